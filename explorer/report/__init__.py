"""explorer.report.render."""
