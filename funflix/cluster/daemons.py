"""Start the cluster's processes detached, record them, and stop them by PID.

Every process is recorded with its start time (``/proc/<pid>/stat`` field 22), so a PID the kernel has
reused for something else is never signalled. Each daemon inherits the lock file descriptor, so the
machine-wide lock stays held exactly as long as any of them lives.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LOCK_PATH = Path(os.environ.get("FUNFLIX_CLUSTER_LOCK", "/tmp/funflix-cluster.lock"))


class ClusterBusy(RuntimeError):
    """Another cluster holds the machine-wide lock."""


@dataclass(frozen=True)
class Daemon:
    name: str
    pid: int
    started: str  # /proc start time in clock ticks, to recognise the same process later
    log: str


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def alive(daemon: Daemon) -> bool:
    """True while the recorded process (not a reused PID) runs; zombies count as gone."""
    return _start_time(daemon.pid) == daemon.started


def acquire_lock(timeout: float, waiting_message: str, root: Path) -> int:
    """Take the machine-wide cluster lock (``flock``), waiting up to ``timeout`` s; return its descriptor.
    The lock file names the holder's PID and cluster folder, so a busy machine says what to stop."""
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.set_inheritable(fd, True)
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}, cluster folder {root}\n".encode())
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                holder = LOCK_PATH.read_text().strip() or "?"
                raise ClusterBusy(f"another cluster holds {LOCK_PATH} ({holder}); stop it with "
                                  f"`funflix cluster --root <its folder> down`")
            if not told:
                print(waiting_message, flush=True)
                told = True
            time.sleep(2)


def lock_holder() -> str | None:
    """What the holder of the lock wrote (its PID and cluster folder), or None when the lock is free."""
    if not LOCK_PATH.exists():
        return None
    fd = os.open(LOCK_PATH, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return LOCK_PATH.read_text().strip() or "?"
    finally:
        os.close(fd)


def start(name: str, argv: list[str], log_dir: Path, lock_fd: int, env: dict | None = None) -> Daemon:
    """Start ``argv`` in its own session with output to ``<log_dir>/<name>.log``."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, pass_fds=(lock_fd,), env=env)
    started = _start_time(process.pid)
    if started is None:
        raise RuntimeError(f"{name} exited at once; see {log_path}")
    return Daemon(name, process.pid, started, str(log_path))


def stop(daemon: Daemon, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; reaps it when it is our child."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if not alive(daemon):
            break
        os.kill(daemon.pid, sig)
        deadline = time.monotonic() + wait
        while alive(daemon) and time.monotonic() < deadline:
            time.sleep(0.1)
    try:
        os.waitpid(daemon.pid, os.WNOHANG)
    except ChildProcessError:
        pass


def save(path: Path, state: dict) -> None:
    """Write the cluster's state file atomically (daemons as plain mappings)."""
    payload = {**state, "daemons": [asdict(d) for d in state.get("daemons", [])]}
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(payload, indent=2))
    partial.rename(path)


def load(path: Path) -> dict:
    state = json.loads(path.read_text())
    state["daemons"] = [Daemon(**d) for d in state.get("daemons", [])]
    return state
