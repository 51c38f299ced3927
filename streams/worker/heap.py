"""Keeps the cyclic garbage collector's full passes off the worker's long-lived heap.

By its first batch a worker holds hundreds of thousands of objects that live as long as the
process: the modules it imported (Faust, aiokafka, pyarrow), Faust's services, topics and tables,
the recovered tables' handles. Every full collection walked all of them: measured in the worker
of ``make bench-stream``, seven full passes of 50 to 110 ms each on a 34,000-message backlog,
about a tenth of its processing time, and each one a pause in every decision's latency. Moving
them to the collector's permanent generation (``gc.freeze``) leaves the full passes only the
objects made since. Frozen objects are still freed by reference counting when released; only a
reference cycle among them would now outlive its last use, and startup objects are not released.
"""

from __future__ import annotations

import gc


class StartupHeap:
    """Freezes the heap once, when the worker is about to process its first batch."""

    def __init__(self) -> None:
        self.frozen = 0  # objects moved to the permanent generation; 0 until the first batch

    def freeze_once(self) -> None:
        if self.frozen:
            return
        gc.collect()  # what startup left as garbage must not be frozen with the rest
        gc.freeze()
        self.frozen = gc.get_freeze_count()
