"""TaskTracker: a task tracker backend (Flask REST API on MongoDB)."""

__version__ = "0.1.0"
