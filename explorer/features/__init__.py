"""explorer.features."""
