"""What the tests share: helpers, the services they start, and the fixtures of those services.

Test modules import from here, never from a conftest or from another test module. The root
`tests/conftest.py` registers the modules that define fixtures as pytest plugins.
"""
