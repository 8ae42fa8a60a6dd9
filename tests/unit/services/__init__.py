"""Service-level tests: every service through the fakes of tests/fakes.py."""
