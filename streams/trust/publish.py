"""Publishing the trust records (checkpoints, erasures) to Kafka, every acknowledgement awaited.

One small kafka-python producer (``acks=all``) per user; a failed send is a
:class:`PublishError` naming the topic, never a silent loss. ``role`` names the Kafka principal
the producer authenticates as (``base.credentials``): the sink for checkpoints, the operator
for erasures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from base.credentials import KafkaRole, kafka_client_security
from base.errors import LedgerError
from base.settings import Settings


class PublishError(LedgerError):
    """Records were stored in ClickHouse but not (all) published on their Kafka topic."""


class Publisher:
    """Sends keyed messages and waits until the broker acknowledged every one."""

    def __init__(self, settings: Settings, role: KafkaRole, client_id: str) -> None:
        self.settings = settings
        self.role: KafkaRole = role
        self.client_id = client_id
        self._producer: Any = None

    def send(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Publish (key, value) messages on ``topic``; raise PublishError unless all are acked."""
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        try:
            if self._producer is None:
                self._producer = KafkaProducer(
                    bootstrap_servers=self.settings.kafka_bootstrap,
                    client_id=self.client_id,
                    acks="all",
                    **kafka_client_security(self.settings, self.role),
                )
            futures = [self._producer.send(topic, key=k, value=v) for k, v in messages]
            for f in futures:
                f.get(timeout=60)
        except KafkaError as e:
            raise PublishError(f"stored but not published on {topic}: {e}") from e

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None
