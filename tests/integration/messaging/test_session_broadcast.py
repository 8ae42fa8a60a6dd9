"""Near caches of session snapshots kept in step over the real RabbitMQ, on the real Memcached:
what one process changes, the others drop at once; while a process cannot hear, it reads
Memcached every time; and a replica whose copy is behind a grant does not refuse on it.

Two API processes are two containers here: the root chain's (`container`, reaching RabbitMQ
through the proxy the tests cut) and a replica reaching RabbitMQ directly."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tasktracker.adapters.broker import Broker, BrokerConfig
from tasktracker.adapters.cache import MemcachedCache, NearCache
from tasktracker.adapters.cache_broadcast import CacheBroadcast
from tasktracker.api.app import create_app
from tasktracker.bootstrap import Container
from tasktracker.services.sessions import cache_key
from tasktracker.settings import Settings
from tests.support.api import Api
from tests.support.proxy import TcpProxy
from tests.support.services import amqp_url
from tests.support.waiting import wait_until

LIVE = 15  # seconds a broadcast may take to connect


class Process:
    """One process's near cache: a MemcachedCache, a broker, a broadcast; copies never age."""

    def __init__(self, memcached_servers: str, amqp_url: str) -> None:
        self.shared = MemcachedCache(memcached_servers)
        self.broker = Broker(BrokerConfig(url=amqp_url))
        self.broadcast = CacheBroadcast(self.broker, amqp_url, reconnect_delay=0.1)
        self.cache = NearCache(self.shared, 1.0, self.broadcast, clock=lambda: 0.0)
        self.reads = 0
        real_get = self.shared.get

        def counted(key: str) -> dict | None:
            self.reads += 1
            return real_get(key)

        self.shared.get = counted  # type: ignore[method-assign]
        self.heard = 0  # broadcasts of changed keys heard (the listener is set by `start`)
        real_drop = self.cache.drop

        def heard(keys: list[str]) -> None:
            real_drop(keys)
            self.heard += 1

        self.cache.drop = heard  # type: ignore[method-assign]

    def start(self) -> Process:
        self.cache.get("warm-up")  # the first read starts listening
        assert self.broadcast.wait_live(LIVE), "the broadcast did not connect"
        return self

    def close(self) -> None:
        self.cache.close()
        self.shared.close()
        self.broker.close()


@pytest.fixture
def processes(memcached_servers: str) -> Iterator[Callable[[str], Process]]:
    made: list[Process] = []

    def make(amqp_url: str) -> Process:
        made.append(Process(memcached_servers, amqp_url).start())
        return made[-1]

    yield make
    for process in made:
        process.close()


def test_what_one_process_changes_the_others_drop_at_once(processes, direct_amqp_url):
    here, there = processes(direct_amqp_url), processes(direct_amqp_url)
    heard = here.heard
    there.cache.set("tt:test:k", {"revoked": False}, 60)
    # Once its broadcast has arrived: a copy taken before it would be dropped by it.
    wait_until(lambda: here.heard > heard, timeout=5)
    assert here.cache.get("tt:test:k") == {"revoked": False}
    reads = here.reads
    assert here.cache.get("tt:test:k") == {"revoked": False} and here.reads == reads  # a copy

    there.cache.set("tt:test:k", {"revoked": True}, 60)  # a logout over there
    # Copies here never age: only the broadcast can make this read Memcached again.
    wait_until(lambda: here.cache.get("tt:test:k") == {"revoked": True}, timeout=5)
    there.cache.delete_many(["tt:test:k"])  # a demotion over there
    wait_until(lambda: here.cache.get("tt:test:k") is None, timeout=5)


def test_a_process_that_cannot_hear_reads_memcached_on_every_request(
    processes, direct_amqp_url, broker_proxy: TcpProxy, rabbitmq_vhost
):
    here = processes(amqp_url(broker_proxy.port, rabbitmq_vhost))
    there = processes(direct_amqp_url)
    there.cache.set("tt:test:cut", {"v": 1}, 60)
    assert here.cache.get("tt:test:cut") == {"v": 1}

    broker_proxy.stop()
    wait_until(lambda: not here.broadcast.live, timeout=LIVE)
    there.cache.set("tt:test:cut", {"v": 2}, 60)  # published; this process cannot hear it
    assert here.cache.get("tt:test:cut") == {"v": 2}  # the next read, no waiting
    there.cache.set("tt:test:cut", {"v": 3}, 60)
    assert here.cache.get("tt:test:cut") == {"v": 3}

    broker_proxy.start()
    assert here.broadcast.wait_live(LIVE)
    assert here.cache.get("tt:test:cut") == {"v": 3}
    there.cache.set("tt:test:cut", {"v": 4}, 60)
    wait_until(lambda: here.cache.get("tt:test:cut") == {"v": 4}, timeout=5)


@pytest.fixture
def replica(
    settings: Settings, direct_amqp_url: str, make_container: Callable[[Settings], Container]
) -> Api:
    """A second API process on the same database and Memcached, its near cache listening."""
    container = make_container(settings.model_copy(update={"amqp_url": direct_amqp_url}))
    near = container.adapters.session_cache
    assert isinstance(near, NearCache)
    near.get("warm-up")
    wait_until(lambda: near.live, timeout=LIVE)
    return Api(create_app(container.services).test_client(), container)


def me(api: Api, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return api.client.get("/api/v1/users/me", headers=headers).status_code


def test_a_warm_session_is_served_from_the_replicas_own_copy(api, replica):
    alice = api.member()
    calls: list[str] = []
    real_get = replica.container.adapters.cache.get
    replica.container.adapters.cache.get = lambda key: calls.append(key) or real_get(key)
    assert me(replica, alice.token) == me(replica, alice.token) == 200
    assert len([key for key in calls if key.startswith(cache_key(""))]) == 1


def test_a_logout_applies_at_once_where_it_happened_and_on_the_replica_by_broadcast(
    api, replica, client
):
    alice = api.member()
    session = api.login_as(alice.id, alice.username, alice.email, alice.password)
    assert me(replica, session.token) == 200  # the replica's copy is warm
    logout = client.post("/api/v1/auth/logout", headers=session.headers)
    assert logout.status_code == 204
    assert me(api, session.token) == 401
    wait_until(lambda: me(replica, session.token) == 401, timeout=5)


def test_a_project_created_on_one_replica_is_usable_on_the_other_at_once(api, replica):
    alice = api.member()
    assert me(replica, alice.token) == 200  # the replica's copy predates the project
    r = api.client.post(
        "/api/v1/projects", json={"key": "NEAR", "name": "near"}, headers=alice.headers
    )
    assert r.status_code == 201, r.get_json()
    task = {"title": "first", "project": "NEAR"}
    created = replica.client.post("/api/v1/tasks", json=task, headers=alice.headers)
    assert created.status_code == 201, created.get_json()
