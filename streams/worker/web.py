"""The worker's HTTP endpoints: remaining stay (EES-style) and health.

``GET /stay/{traveller}/[?at=INSTANT]`` answers from the live table: the traveller's open stays,
their deadlines and the remaining time at ``at`` (default: now, by the wall clock, as the EES
service does). Faust's ``table_route`` forwards the request to the worker that owns the
traveller's partition, so any worker can be asked. The answer also carries the partition's
event-time watermark, because the live state only knows what has arrived so far.

Faust's own views (``/table/``, which would hand out a traveller's stored record, ``/router/``,
``/graph/``, statistics) are switched off in ``create_app``; malformed input (a traveller id with
control characters or over 256 characters, an ``at`` that is not an instant in 1970..2105) is a
400 with a JSON reason, checked before Faust routes the request.

``GET /health/`` reports this worker's input partitions, their watermarks and deadline-index sizes,
its counters, and per input partition Faust's committed offset and how many acknowledged offsets
wait to be committed (a number that keeps growing means commits are stuck), and the input offsets it
processed since it started (``processed_offsets``, merged ranges per partition: a skipped message
is a hole).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import faust
from faust.web import Request, Response, View

from base.errors import InvalidEventError, LedgerError
from base.settings import Settings
from domain.engine import open_stays
from domain.event_data import parse_instant
from domain.events import format_instant
from domain.policy import Policy
from schemas.mapping import stay_view_to_json_dict

MAX_TRAVELLER_ID = 256
# Instants a stay question can be about: the ledger's records live in 1970..2105 (DateTime).
_EARLIEST_AT = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST_AT = datetime(2106, 1, 1, tzinfo=UTC)

if TYPE_CHECKING:
    from streams.worker.coverage import OffsetCoverage
    from streams.worker.faust_tables import FaustTables
    from streams.worker.processor import Processor


def register_views(
    app: faust.App,
    *,
    tables: FaustTables,
    processor: Processor,
    policy: Policy,
    settings: Settings,
    coverage: OffsetCoverage,
) -> None:
    """Attach the ``/stay/{traveller}/`` and ``/health/`` views to ``app``."""

    @app.page("/stay/{traveller}/")
    class StayPage(View):
        async def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
            # Checked before Faust routes the request: routing itself encodes the key.
            problem = _traveller_problem(request.match_info["traveller"])
            if problem is None:
                try:
                    _parse_at(request.query.get("at"))
                except LedgerError as e:
                    problem = str(e)
            if problem is not None:
                return self.json({"error": problem}, status=400)
            return await self.routed(request, *args, **kwargs)

        # faust types the routed handler as taking a plain View, not its subclass.
        @app.table_route(table=tables.travellers, match_info="traveller")  # type: ignore[arg-type]
        async def routed(self, request: Request, *args: Any, **kwargs: Any) -> Response:
            traveller = request.match_info["traveller"]
            at = _parse_at(request.query.get("at"))
            state = tables.traveller(traveller)
            views = [] if state is None else open_stays(state, at, policy)
            return self.json(
                {
                    "traveller_id": traveller,
                    "at": format_instant(at),
                    "policy": policy.version,
                    "known": state is not None,
                    "served_by": settings.worker_web_port,
                    "open_stays": [stay_view_to_json_dict(v) for v in views],
                }
            )

    @app.page("/health/")
    class HealthPage(View):
        async def get(self, request: Request) -> Response:
            health = _health_document(app, tables, processor, settings)
            health["processed_offsets"] = coverage.as_json()
            return self.json(health)


def _health_document(
    app: faust.App, tables: FaustTables, processor: Processor, settings: Settings
) -> dict[str, Any]:
    """This worker's input partitions, clocks, counters and commit state (``/health/``)."""
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
    return {
        "status": "stopping" if app.should_stop else "ok",
        "app_id": settings.app_id,
        "web_port": settings.worker_web_port,
        "partitions": partitions,
        "processed": c.processed,
        "heartbeats": c.heartbeats,
        "dead_lettered": c.dead_lettered,
        "emitted": c.emitted,
        "timer_firings": c.timer_firings,
        "state_cache": {"hits": processor.cache.hits, "misses": processor.cache.misses},
        "previous_format_states": c.previous_format_states,
        "replayed": c.replayed,
        "offsets": offsets,
    }


def _parse_at(text: str | None) -> datetime:
    """The ``at`` query parameter (default: now); :class:`LedgerError` if it is not usable."""
    if not text:
        return datetime.now(UTC)
    at = parse_instant(text, "at")
    if not _EARLIEST_AT <= at < _LATEST_AT:
        raise InvalidEventError("at", f"outside {_EARLIEST_AT.year}..{_LATEST_AT.year - 1}")
    return at


def _traveller_problem(traveller: str) -> str | None:
    """Why ``traveller`` cannot be a traveller id (None if it can)."""
    if not 0 < len(traveller) <= MAX_TRAVELLER_ID:
        return f"traveller: expected 1 to {MAX_TRAVELLER_ID} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Cn") for ch in traveller):
        return "traveller: control, surrogate or unassigned characters are not allowed"
    return None


def _instant(value: datetime | None) -> str | None:
    return format_instant(value) if value else None
