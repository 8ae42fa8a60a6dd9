"""The local stack's process bookkeeping: it stops what it started, and only that."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from tasktracker.deploy.processes import free_port, start_time
from tasktracker.deploy.stack import Process, Stack, StackError, StackOptions, is_ours
from tests.support.services import amqp_url
from tests.support.settings import TEST_JWT_SECRET

pytestmark = pytest.mark.e2e


def options(tmp_path, **env: str) -> StackOptions:
    base = {
        "STACK_DIR": str(tmp_path / "stack"),
        "STACK_PORT": str(free_port()),
        "STACK_API_PORT": str(free_port()),
        "STACK_REPLICAS": "1",
        "AGENT_METRICS_PORT": "0",
        "JWT_SECRET": TEST_JWT_SECRET,
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    }
    return StackOptions.from_env({**base, **env})


def test_down_stops_its_own_process_group_and_leaves_a_reused_pid_alone(tmp_path):
    stack = Stack(options(tmp_path))
    stack.prepare()
    ours = stack.start("ours", [sys.executable, "-c", "import time; time.sleep(60)"])
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # A record whose pid now belongs to another process (it started at another time).
        fake = Process("impostor", stranger.pid, start_time(stranger.pid) - 1, ["x"], "x.log")
        (stack.pid_dir / "impostor.json").write_text(fake.to_json())
        assert sorted(stack.running()) == ["ours"]

        assert stack.down() == ["ours"]
        assert stranger.poll() is None
        assert stack.processes() == []
        assert not is_ours(ours)
    finally:
        stranger.kill()
        stranger.wait()


def test_an_unreachable_broker_stops_start_up_with_one_clear_error(tmp_path, mongo_url):
    closed = free_port()
    stack = Stack(
        options(
            tmp_path,
            MONGO_URL=mongo_url,
            MEMCACHED_SERVERS="127.0.0.1:1",
            AMQP_URL=f"amqp://guest:guest@127.0.0.1:{closed}//",
        )
    )
    with pytest.raises(StackError, match=f"RabbitMQ is not reachable at 127.0.0.1:{closed}"):
        stack.up()
    assert stack.running() == []


def test_a_replica_that_cannot_start_is_reported_and_everything_is_stopped(
    tmp_path, mongo_url, memcached_servers, rabbitmq_vhost
):
    valid = options(
        tmp_path,
        MONGO_URL=mongo_url,
        MEMCACHED_SERVERS=memcached_servers,
        AMQP_URL=amqp_url(5672, rabbitmq_vhost),
    )
    # `stack up` checks the settings it reads; only the processes it starts get this one.
    stack = Stack(replace(valid, env={**valid.env, "API_WORKERS": "0"}))
    with pytest.raises(StackError, match="api-1 exited") as info:
        stack.up()
    assert "API_WORKERS" in str(info.value)
    assert stack.running() == []
