"""The original project's environment variables, read as fallbacks for the documented settings.

The project TaskTracker replaces was configured with MONGO_USER/MONGO_PASSWORD/MONGO_CLUSTER,
MONGO_DB_NAME, SECRET_KEY, ALGORITHM, ACCESS_TOKEN_EXPIRE_MINUTES,
RABBITMQ_HOST/PORT/USER/PASS and MEMCACHED_HOST/PORT. Settings asks `fallbacks` for the
documented variables those give, so an existing `.env` keeps working; a variable set under its
documented name always wins. Nothing else in the code knows these names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import quote_plus

# Documented name -> the original's name for the same value.
RENAMED = {"MONGO_DB": "MONGO_DB_NAME", "JWT_SECRET": "SECRET_KEY", "JWT_ALGORITHM": "ALGORITHM"}


class OriginalValueError(ValueError):
    """An original variable holds a bad value; the message names the variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"invalid setting {name}: {problem}")


def fallbacks(env: Mapping[str, str], unset: Callable[[str], bool]) -> dict[str, object]:
    """The documented settings, by variable name, that `env` gives under the original names,
    for those `unset` answers true for. Raises OriginalValueError for a bad value."""
    built: dict[str, Callable[[Mapping[str, str]], object]] = {
        "MONGO_URL": mongo_url,
        "AMQP_URL": amqp_url,
        "MEMCACHED_SERVERS": memcached_servers,
        "ACCESS_TOKEN_TTL": access_token_ttl,
        **{name: _renamed(original) for name, original in RENAMED.items()},
    }
    values = {name: build(env) for name, build in built.items() if unset(name)}
    return {name: value for name, value in values.items() if value is not None}


def _renamed(original: str) -> Callable[[Mapping[str, str]], object]:
    return lambda env: env.get(original)


def mongo_url(env: Mapping[str, str]) -> str | None:
    """A MongoDB URL from MONGO_USER/PASSWORD/CLUSTER (a cluster without a port is Atlas: SRV)."""
    cluster = env.get("MONGO_CLUSTER")
    if not cluster:
        return None
    user = env.get("MONGO_USER")
    password = env.get("MONGO_PASSWORD", "")
    credentials = f"{quote_plus(user)}:{quote_plus(password)}@" if user else ""
    scheme = "mongodb" if ":" in cluster.split(",")[0] else "mongodb+srv"
    return f"{scheme}://{credentials}{cluster}/"


def amqp_url(env: Mapping[str, str]) -> str | None:
    host = env.get("RABBITMQ_HOST")
    if not host:
        return None
    port = _port(env, "RABBITMQ_PORT", "5672")
    user = quote_plus(env.get("RABBITMQ_USER", "guest"))
    password = quote_plus(env.get("RABBITMQ_PASS", "guest"))
    return f"amqp://{user}:{password}@{host}:{port}//"


def memcached_servers(env: Mapping[str, str]) -> str | None:
    host = env.get("MEMCACHED_HOST")
    if not host:
        return None
    return f"{host}:{_port(env, 'MEMCACHED_PORT', '11211')}"


def access_token_ttl(env: Mapping[str, str]) -> int | None:
    minutes = env.get("ACCESS_TOKEN_EXPIRE_MINUTES")
    if not minutes:
        return None
    if not minutes.isdigit():
        raise OriginalValueError("ACCESS_TOKEN_EXPIRE_MINUTES", "expected a whole number")
    return int(minutes) * 60


def _port(env: Mapping[str, str], name: str, default: str) -> str:
    port = env.get(name) or default
    if not (port.isdigit() and 0 < int(port) <= 65535):
        raise OriginalValueError(name, "expected a port number, 1-65535")
    return port
