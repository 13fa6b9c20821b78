"""tzbackup: back up shapes.inc personalities and memories to local JSON files."""

__version__ = "0.1.0"
