"""Mozart's wire contract."""

__version__ = "0.1.0"
