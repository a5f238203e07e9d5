"""The index on disk: its folder's rules (folder), what it holds (records), reading it
(index), committing a generation (commit), and its side files (checkpoints, tags, quarantine).
"""
