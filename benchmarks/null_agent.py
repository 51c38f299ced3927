"""A Faust null agent: the ceiling of a Faust worker over the worker's input topics.

Same Faust settings as the enforcement worker where they concern consuming (raw serializers,
``take_events`` with the worker's batch size and time, concurrency 1, the default loglevel of
``ledger worker``), but no tables, no decoding, no outputs: each batch is counted and dropped.
It serves ``/health/`` with ``processed`` and ``partitions`` like the worker, so
``benchmarks.bench_stream`` times it exactly as it times the worker.

    python -m benchmarks.null_agent     (settings from the LEDGER_* environment)
"""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from base.settings import Settings
from ledger.commands.worker import DEFAULT_LOGLEVEL, faust_worker
from streams.worker.app import worker_credentials


def create_null_app(settings: Settings) -> faust.App:
    """A Faust app whose one agent counts the input messages."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=worker_credentials(settings),  # a worker's login, its app id's ACLs
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        web_port=settings.worker_web_port,
        datadir=str(settings.data_dir / "faust-null"),
    )
    source = app.topic(settings.topic_crossings, settings.topic_permits)
    counted = {"processed": 0}

    @app.agent(source, concurrency=1)
    async def count(stream: Any) -> None:
        batches = stream.take_events(settings.worker_batch_size, settings.worker_batch_seconds)
        async for events in batches:
            counted["processed"] += len(events)

    @app.page("/health/")
    class Health(View):
        async def get(self, request: Request) -> Response:
            actives = app.assignor.assigned_actives() if app.assignor is not None else set()
            partitions = sorted({tp.partition for tp in actives})
            return self.json(
                {
                    "processed": counted["processed"],
                    "partitions": [{"partition": p} for p in partitions],
                }
            )

    return app


def main() -> None:
    app = create_null_app(Settings.from_env())
    faust_worker(app, DEFAULT_LOGLEVEL).execute_from_commandline()


if __name__ == "__main__":
    main()
