"""Process plumbing shared by the Kafka and ClickHouse launchers.

Services run detached (their own session) so that ``ledger infra up`` can exit and leave them
running; a caller that owns its services for its own lifetime (``ledger run``) asks instead that
they die with it (:func:`die_with_parent`), so a killed parent leaves no orphans. A pid file plus
a command-line check (the pid must still belong to a process whose command line names our config
file) decides whether a previous start can be reused.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.errors import InfraError

# Children started by this Python process, so we can reap them (a zombie still answers kill 0).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` into its parts; raise :class:`InfraError` if it is malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InfraError(f"expected host:port, got {address!r}")
    return host, int(port)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable and writable by its owner only (mode 0600).

    The mode is set at creation and again on an existing file, so secrets (hashed passwords,
    SCRAM credentials, keys) are never world-readable, not even for an instant.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def free_port(host: str) -> int:
    """Return a TCP port on ``host`` that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file, or a note that it does not exist."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


def read_pid(pid_file: Path) -> int | None:
    """The pid stored in ``pid_file``, or None if the file is missing or garbled."""
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def pid_alive(pid: int, marker: str) -> bool:
    """True if ``pid`` is a live (non-zombie) process whose command line contains ``marker``."""
    child = _CHILDREN.get(pid)
    if child is not None:
        # Our own child: Popen knows. The command line is not checked here, because the java
        # launcher may re-exec itself, and /proc/<pid>/cmdline is briefly empty while it does.
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # Field 3 of /proc/<pid>/stat (after the parenthesised command name) is the state.
    if stat.rpartition(")")[2].split()[0] in {"Z", "X"}:
        return False
    return marker.encode() in cmdline


_PR_SET_PDEATHSIG = 1  # prctl option, <linux/prctl.h>


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` after which the child gets ``sig`` as soon as this process dies (Linux).

    The kernel sends it when the thread that started the child exits, so start children from the
    main thread. Everything is looked up here, in the parent: between fork and exec the hook only
    makes system calls (no import, no Python lock). If this process died before the hook ran, the
    child signals itself.
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent, signum = os.getpid(), int(sig)

    def arm() -> None:
        if prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)

    return arm


def spawn(
    cmd: Sequence[str],
    *,
    log_file: Path,
    pid_file: Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    with_parent: bool = False,
) -> int:
    """Start ``cmd`` detached, stdout and stderr appended to ``log_file``; record its pid.

    With ``with_parent`` the process is SIGKILLed when this one dies (:func:`die_with_parent`).
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        try:
            child = subprocess.Popen(
                list(cmd),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                # The hook takes no lock and imports nothing (see die_with_parent).
                preexec_fn=die_with_parent() if with_parent else None,  # noqa: PLW1509
            )
        except OSError as e:
            raise InfraError(f"cannot run {cmd[0]}: {e}") from e
    _CHILDREN[child.pid] = child
    pid_file.write_text(f"{child.pid}\n")
    return child.pid


def terminate(pid: int, marker: str, timeout: float) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` seconds, then SIGKILL it."""
    if not pid_alive(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid, marker):
            _reap(pid)
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if not pid_alive(pid, marker):
            break
        time.sleep(0.1)
    _reap(pid)


def _reap(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait(timeout=5)
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError as e:
        if e.errno != errno.ECHILD:
            raise
