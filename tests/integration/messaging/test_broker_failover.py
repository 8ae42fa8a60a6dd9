"""The broker adapter for a cluster: its queues declare as quorum queues on a vhost whose default
type is quorum (as the cluster of docker-compose.cluster.yml sets), a node list in AMQP_URL
(`amqp://node-1//;amqp://node-2//`) passes over a node that does not answer, and a connection
dropped by an outage connects again (RabbitMQ here is one node; the unreachable one is a closed
port)."""

from __future__ import annotations

from tasktracker.adapters.broker import Broker, BrokerConfig, topology
from tasktracker.deploy.processes import free_port
from tests.support.broker import queued, welcome_events
from tests.support.proxy import TcpProxy
from tests.support.services import RABBIT_HOST, rabbitmqctl
from tests.support.waiting import wait_until


def via(url: str, port: int) -> str:
    """The same vhost and credentials, at another port of this host."""
    return url.replace(url.split("@", 1)[1].split("/", 1)[0], f"{RABBIT_HOST}:{port}", 1)


def test_a_node_that_does_not_answer_is_passed_over_for_the_next(direct_amqp_url: str):
    down = via(direct_amqp_url, free_port())  # nothing listens there
    broker = Broker(BrokerConfig(url=f"{down};{direct_amqp_url}"))
    try:
        assert broker.ping()
        single, batch = welcome_events(1, "single"), welcome_events(3, "batch")
        broker.publish(single[0])
        broker.publish_many(batch)
        ids = [body["event_id"] for body, _ in queued(direct_amqp_url)]
        assert ids == [e.event_id for e in single + batch]
    finally:
        broker.close()


def test_after_an_outage_the_broker_is_ready_again(direct_amqp_url: str, broker_proxy: TcpProxy):
    broker = Broker(BrokerConfig(url=via(direct_amqp_url, broker_proxy.port)))
    try:
        assert broker.ping()
        broker_proxy.stop()
        assert not broker.ping()
        broker_proxy.start()
        wait_until(broker.ping, timeout=10)
        broker.publish_many(welcome_events(2))
        assert len(queued(direct_amqp_url)) == 2
    finally:
        broker.close()


def test_every_work_queue_is_a_quorum_queue_on_a_quorum_vhost(
    direct_amqp_url: str, rabbitmq_vhost: str
):
    broker = Broker(BrokerConfig(url=direct_amqp_url))
    try:
        broker.publish_many(welcome_events(2))  # declares the topology
    finally:
        broker.close()
    listed = rabbitmqctl("list_queues", "-p", rabbitmq_vhost, "--no-table-headers", "name", "type")
    types = dict(line.split("\t") for line in listed.strip().splitlines())
    queues = {q.name for q in topology() if hasattr(q, "queue_arguments")}
    assert queues <= set(types)
    assert {types[name] for name in queues} == {"quorum"}
    assert len(queued(direct_amqp_url)) == 2
