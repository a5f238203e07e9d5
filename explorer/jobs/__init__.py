"""explorer.jobs."""
