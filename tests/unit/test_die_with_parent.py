"""Children die with a killed parent: no broker or worker runs on as an orphan.

A parent process (a small Python script) starts a child the way ``ledger run`` does, through
:func:`infra.process.spawn` (the job's Kafka broker) or :func:`ledger.worker_process.start_worker`
(the Faust worker), prints the child's pid and waits. The test SIGKILLs the parent, as a test's
timeout kills ``ledger run``, and the child must be gone soon after. A detached service (``ledger
infra up``) is the control: it must outlive its starter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from base.settings import PROJECT_ROOT
from infra import process

SERVICE_PARENT = """
import sys, time
from pathlib import Path
from infra import process
tmp = Path(sys.argv[1])
pid = process.spawn(
    ["sleep", "61"], log_file=tmp / "out.log", pid_file=tmp / "child.pid", cwd=tmp,
    with_parent=sys.argv[2] == "owned",
)
print(pid, flush=True)
time.sleep(60)
"""

WORKER_PARENT = """
import sys, time
from pathlib import Path
from base.settings import Settings
from ledger.worker_process import start_worker
tmp = Path(sys.argv[1])
child = start_worker(
    Settings(data_dir=tmp), tmp / "worker.log", command=("-c", "import time; time.sleep(62)")
)
print(child.pid, flush=True)
time.sleep(60)
"""


def _child_of_killed_parent(script: str, *args: str) -> int:
    """Run ``script``, read its child's pid, SIGKILL the script; returns the child's pid."""
    parent = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
    return child


def _gone_within(pid: int, marker: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process.pid_alive(pid, marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _wait_for_command_line(pid: int, marker: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not process.pid_alive(pid, marker):  # exec may not have filled the command line yet
        assert time.monotonic() < deadline, f"pid {pid} never showed {marker!r}"
        time.sleep(0.01)


def test_a_service_owned_by_its_starter_dies_with_it(tmp_path: Path) -> None:
    child = _child_of_killed_parent(SERVICE_PARENT, str(tmp_path), "owned")
    assert _gone_within(child, "sleep", timeout=10), f"pid {child} outlived its killed parent"


def test_a_detached_service_outlives_its_starter(tmp_path: Path) -> None:
    child = _child_of_killed_parent(SERVICE_PARENT, str(tmp_path), "detached")
    try:
        _wait_for_command_line(child, "sleep")
        assert not _gone_within(child, "sleep", timeout=1), "the detached service died"
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_worker_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    child = _child_of_killed_parent(WORKER_PARENT, str(tmp_path))
    assert _gone_within(child, "time.sleep(62)", timeout=10), f"worker {child} was orphaned"


def test_a_child_whose_parent_died_before_the_hook_ran_kills_itself() -> None:
    # The hook compares the pid it was built in with the child's parent when it runs: a hook
    # built in another process (as if its builder had died already) must end the child.
    hook = process.die_with_parent()
    script = "import time; time.sleep(30)"
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's parent: it starts the child, then lives on (no death signal)
        os.close(reader)
        child = subprocess.Popen([sys.executable, "-c", script], preexec_fn=hook)  # noqa: PLW1509
        os.write(writer, f"{child.pid}\n".encode())
        time.sleep(30)
        os._exit(0)
    os.close(writer)
    try:
        with os.fdopen(reader) as lines:
            child = int(lines.readline())
        assert _gone_within(child, "time.sleep(30)", timeout=10), f"pid {child} survived"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
