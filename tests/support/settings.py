"""Settings for tests, and the environment that gives a `tasktracker` process the same ones."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tasktracker.settings import Settings, load_settings

TEST_JWT_SECRET = "test-secret-" + "x" * 40
# Cheap argon2 parameters keep the suite fast; production uses argon2-cffi's defaults.
FAST_HASHING = {"password_hash_time_cost": 1, "password_hash_memory_kib": 8192}
# Rate limits high enough that only the rate-limit tests reach them.
GENEROUS_LIMITS = {
    "rate_limit_login_ip": "10000/minute",
    "rate_limit_login_account": "10000/minute",
    "rate_limit_signup": "10000/minute",
    "rate_limit_password_reset": "10000/minute",
    "rate_limit_api": "100000/minute",
    "rate_limit_token": "100000/minute",
}


def new_db_name() -> str:
    return f"tt_{uuid.uuid4().hex[:12]}"


def make_settings(mongo_url: str, data_dir: Path, /, **overrides: object) -> Settings:
    """Test settings: a database of its own, the test JWT secret, fast hashing, generous limits,
    no bootstrap admin; `overrides` on top (`data_dir` too), validated like the environment."""
    values: dict[str, object] = {
        "mongo_url": mongo_url,
        "mongo_db": new_db_name(),
        "jwt_secret": TEST_JWT_SECRET,
        "data_dir": data_dir,
        "admin_email": None,
        "admin_password": None,
        **FAST_HASHING,
        **GENEROUS_LIMITS,
    }
    values.update(overrides)
    return load_settings(**values)


def env_vars(**values: object) -> dict[str, str]:
    """Settings as environment variables: `delivery_lease=2.0` -> {"DELIVERY_LEASE": "2.0"}."""
    return {name.upper(): str(value) for name, value in values.items()}


def process_env(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment of a `python -m tasktracker ...` child on the database of `settings`:
    this process's environment, the test JWT secret, fast hashing, and `extra` settings."""
    return {
        **os.environ,
        **env_vars(
            mongo_url=settings.mongo_url or "",
            mongo_db=settings.mongo_db,
            jwt_secret=TEST_JWT_SECRET,
            data_dir=settings.data_dir,
            **FAST_HASHING,
            **extra,
        ),
    }
