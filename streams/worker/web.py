"""The worker's HTTP endpoints: remaining stay (EES-style) and health.

``GET /stay/{traveller}/[?at=INSTANT]`` answers from the live table: the traveller's open stays,
their deadlines and the remaining time at ``at`` (default: now, by the wall clock, as the EES
service does). Faust's ``table_route`` forwards the request to the worker that owns the
traveller's partition, so any worker can be asked. The answer also carries the partition's
event-time watermark, because the live state only knows what has arrived so far.

``GET /health/`` reports this worker's input partitions, their watermarks and deadline-index sizes,
its counters, and per input partition Faust's committed offset and how many acknowledged offsets
wait to be committed (a number that keeps growing means commits are stuck).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import faust
from faust.web import Request, Response, View

from streams.domain.engine import open_stays
from streams.domain.errors import LedgerError
from streams.domain.events import format_instant, parse_instant
from streams.domain.policy import Policy
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.worker.app import _Tables
    from streams.worker.processor import Processor


def register_views(
    app: faust.App,
    *,
    tables: _Tables,
    processor: Processor,
    policy: Policy,
    settings: Settings,
) -> None:
    """Attach the ``/stay/{traveller}/`` and ``/health/`` views to ``app``."""

    @app.page("/stay/{traveller}/")
    class StayPage(View):
        # faust types the routed handler as taking a plain View, not its subclass.
        @app.table_route(table=tables.travellers, match_info="traveller")  # type: ignore[arg-type]
        async def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
            traveller = request.match_info["traveller"]
            try:
                at_text = request.query.get("at")
                at = parse_instant(at_text, "at") if at_text else datetime.now(UTC)
            except LedgerError as e:
                return self.json({"error": str(e)}, status=400)
            state = tables.traveller(traveller)
            views = [] if state is None else open_stays(state, at, policy)
            return self.json(
                {
                    "traveller_id": traveller,
                    "at": format_instant(at),
                    "policy": policy.version,
                    "known": state is not None,
                    "served_by": settings.worker_web_port,
                    "open_stays": [v.to_json_dict() for v in views],
                }
            )

    @app.page("/health/")
    class HealthPage(View):
        async def get(self, request: Request) -> Response:
            inputs = (settings.topic_crossings, settings.topic_permits)
            actives = app.assignor.assigned_actives() if app.assignor is not None else set()
            assigned = sorted({tp.partition for tp in actives if tp.topic in inputs})
            consumer = app.consumer
            acked = getattr(consumer, "_acked", {})
            committed = getattr(consumer, "_committed_offset", {})
            offsets = [
                {
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "committed": committed.get(tp),
                    "acked_pending": len(acked.get(tp, ())),
                    "lowest_acked": min(acked[tp]) if acked.get(tp) else None,
                }
                for tp in sorted(actives)
                if tp.topic in inputs
            ]
            clocks = dict(tables.clock_items())
            partitions = [
                {
                    "partition": p,
                    "watermark": _instant(clocks[p].watermark) if p in clocks else None,
                    "max_seen": _instant(clocks[p].max_seen) if p in clocks else None,
                    "index_entries": processor.index.size(p),
                }
                for p in assigned
            ]
            c = processor.counters
            return self.json(
                {
                    "status": "stopping" if app.should_stop else "ok",
                    "app_id": settings.app_id,
                    "web_port": settings.worker_web_port,
                    "partitions": partitions,
                    "processed": c.processed,
                    "heartbeats": c.heartbeats,
                    "dead_lettered": c.dead_lettered,
                    "emitted": c.emitted,
                    "timer_firings": c.timer_firings,
                    "offsets": offsets,
                }
            )


def _instant(value: datetime | None) -> str | None:
    return format_instant(value) if value else None
