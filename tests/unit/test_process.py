"""Process plumbing of infra/: liveness of the services the project starts."""

from __future__ import annotations

from pathlib import Path

from infra import process


def test_our_own_child_is_alive_even_while_its_command_line_lacks_the_marker(
    tmp_path: Path,
) -> None:
    # The java launcher can re-exec itself; meanwhile /proc/<pid>/cmdline does not show the
    # config path. A child we spawned is judged by Popen, not by its command line.
    pid = process.spawn(
        ["sleep", "30"], log_file=tmp_path / "out.log", pid_file=tmp_path / "x.pid", cwd=tmp_path
    )
    try:
        assert process.pid_alive(pid, "marker-not-in-the-command-line")
    finally:
        process.terminate(pid, "sleep", timeout=5)
    assert not process.pid_alive(pid, "sleep")


def test_a_foreign_pid_counts_only_if_its_command_line_names_the_marker(tmp_path: Path) -> None:
    import subprocess

    proc = subprocess.Popen(["sleep", "30"])
    try:
        # Popen returns once exec has begun, but the kernel fills /proc/<pid>/cmdline a moment
        # later (the new argument pages); until then the command line is empty for anyone.
        _wait_for_command_line(proc.pid)
        assert process.pid_alive(proc.pid, "sleep")
        assert not process.pid_alive(proc.pid, "kafka.Kafka")
    finally:
        proc.kill()
        proc.wait()
    assert not process.pid_alive(proc.pid, "sleep")


def _wait_for_command_line(pid: int, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not Path(f"/proc/{pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, f"pid {pid} never showed a command line"
        time.sleep(0.01)
