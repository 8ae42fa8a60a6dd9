"""Pure domain: users, tasks, the status workflow, permissions and domain errors.

Nothing here imports Flask, pymongo or kombu.
"""
