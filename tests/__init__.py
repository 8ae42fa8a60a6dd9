"""TaskTracker's tests; what they share is in `tests.support`."""

import pytest

# Before any helper is imported: their asserts then explain themselves like the tests' own.
pytest.register_assert_rewrite("tests.support")
