"""Keeps the cyclic garbage collector's full passes off the worker's long-lived heap.

By its first batch a worker holds hundreds of thousands of objects that live as long as the
process: the modules it imported (Faust, aiokafka, pyarrow), Faust's services, topics and tables,
the recovered tables' handles. Every full collection walked all of them: measured in the worker
of ``make bench-stream``, seven full passes of 50 to 110 ms each on a 34,000-message backlog,
about a tenth of its processing time, and each one a pause in every decision's latency. Moving
them to the collector's permanent generation (``gc.freeze``) leaves the full passes only the
objects made since.

The states the worker then caches (up to ``streams.worker.cache``'s bound) are long-lived too,
and they keep coming: at 2,000 entries/s the full passes walked more of them each time, 43 ms
growing to 291 ms within 30 s, and every one of them found nothing to free (each a pause in
every decision then in progress). So each batch after a full collection freezes
what survived it. The next full pass walks only what was promoted since, and the passes stay
short however large the cache grows. A worker that has run long enough to fill the cache
(50,000 states per partition) would otherwise pause about half a second at every full pass: in
process, with 200,000 of the benchmark's fresh entries cached, a full pass walked 1.4 million
objects in 511 ms, and 0.0 ms once they were frozen.

What freezing gives up: frozen objects are still freed by reference counting when released, but
a reference cycle among them would outlive its last use. Startup objects are never released;
the worker's steady path makes next to no cyclic garbage (under the 2,000/s load: 22 objects
in 1,039 young collections, none in 94 middle ones), so the survivors frozen after a full pass
are states, tables and services, which die by reference counting or not at all. Objects made
between that pass and the next batch are frozen unchecked; they are the batch in hand.
"""

from __future__ import annotations

import gc


def _full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


class WorkerHeap:
    """Freezes the heap at the first batch, then after every full collection (see above)."""

    def __init__(self) -> None:
        self.frozen = 0  # objects frozen at the first batch (the startup heap); 0 until then
        self.freezes = 0
        self._seen_full = 0  # full collections counted at the last freeze

    def at_batch(self) -> None:
        """Call before each batch: freezes at the first, then when a full collection ran."""
        if not self.freezes:
            gc.collect()  # what startup left as garbage must not be frozen with the rest
        full = _full_collections()
        if self.freezes and full == self._seen_full:
            return
        gc.freeze()
        if not self.freezes:  # counting walks the whole permanent generation: only the first time
            self.frozen = gc.get_freeze_count()
        self.freezes += 1
        self._seen_full = full
