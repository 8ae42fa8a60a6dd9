"""e2e fixtures: the real RabbitMQ vhost of the messaging tests is shared here."""

from tests.integration.messaging.conftest import rabbitmq_vhost  # noqa: F401 (a fixture)
