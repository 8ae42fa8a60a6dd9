"""Use cases. Services take adapters as arguments and know nothing of Flask."""
