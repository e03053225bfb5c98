"""filedrop-monitor: watch file servers and learn what arrived, changed and vanished."""

__version__ = "0.1.0"
