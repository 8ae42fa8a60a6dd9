"""The alert scheduler: APScheduler with its jobs in MongoDB, active in one process at a time."""
