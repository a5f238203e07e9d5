"""explorer.store.folder."""
