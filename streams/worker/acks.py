"""A repair for Faust's offset bookkeeping after a recovery (faust-streaming 0.15.x).

After a worker restarts and recovers its tables, Faust starts fetching the input partitions before
it seeks them to the committed offsets (faust-streaming issue 216), so the first messages after
the committed point are delivered twice. Processing them twice is harmless here (a repeated
``event_id`` changes nothing and outputs are deduplicated by ``decision_id``), but the consumer
then records every offset twice in its list of acknowledged offsets, or records offsets below
the committed one. Its commit logic looks for runs of consecutive offsets, so a list such as
``2615 2616 2616 2617 2617 ...`` advances the committed offset by one or two per commit interval:
the worker keeps processing while its group lag never reaches zero (seen in the SIGKILL test).

:func:`drop_stale_acks` removes those duplicates and already-committed offsets, which is exactly
the state the bookkeeping has when nothing was delivered twice. It never adds an offset, so it
cannot commit past a message that was not acknowledged. The worker runs it every second and logs
what it repaired.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types.tuples import ack_lock

log = logging.getLogger(__name__)


def drop_stale_acks(consumer: Any) -> int:
    """Remove duplicate and already-committed offsets from ``consumer``'s acked lists.

    Returns how many entries were removed. ``consumer`` is Faust's transport consumer; the
    attributes used are internal to faust-streaming (pinned in pyproject.toml).
    """
    removed = 0
    with ack_lock:
        for tp, acked in consumer._acked.items():
            if not acked:
                continue
            committed = consumer._committed_offset.get(tp)
            kept = sorted({o for o in acked if committed is None or o >= committed})
            if len(kept) != len(acked):
                removed += len(acked) - len(kept)
                acked[:] = kept
                consumer._acked_index[tp] = set(kept)
    if removed:
        log.warning("dropped %d duplicate or already-committed acked offsets", removed)
    return removed
