"""Adapters, one per external system: MongoDB, password hashing, the embedded database."""
