"""explorer.analysis.compute."""
