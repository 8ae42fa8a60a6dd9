"""Use cases. Services depend on the interfaces in `ports.py`, never on a driver; `Services`
(registry.py) is everything the API and the CLI may call, built by bootstrap.py."""
