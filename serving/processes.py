"""Child processes of the local stack: each in its own process group, logged to a file, health-checked."""

from __future__ import annotations

import ctypes
import os
import random
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port_block(n: int, low: int = 20000, high: int = 32000) -> int:
    """The first of ``n`` consecutive free ports, below the ephemeral range (a stack's components need a block)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randint(low, high - n)
        if not any(port_in_use(port) for port in range(base, base + n)):
            return base
    raise RuntimeError(f"no block of {n} free ports in [{low}, {high})")


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return True
    return False


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the stack's owner dies without stopping it (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class ManagedProcess:
    """One command run as its own process group (so stopping it leaves no orphans)."""

    def __init__(self, name: str, command: list[str], log_path: Path, health_url: str,
                 env: dict[str, str] | None = None, cwd: Path | None = None):
        self.name = name
        self.command = command
        self.log_path = log_path
        self.health_url = health_url
        self.env = env
        self.cwd = cwd
        self.process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd,
                                            start_new_session=True, preexec_fn=_die_with_parent)

    def healthy(self) -> bool:
        return self.running and http_status(self.health_url) == 200

    def wait_healthy(self, deadline: float) -> None:
        """Block until the health URL answers 200; RuntimeError (with the log's tail) otherwise."""
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited with status {self.process.returncode}; "
                                   f"log {self.log_path}:\n{self.log_tail()}")
            if http_status(self.health_url) == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not healthy at {self.health_url} in time; log {self.log_path}:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The log's last lines, led by its first exception line (the cause, before shutdown noise)."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        causes = [line for line in text if re.match(r"^\w+(Error|Exception): ", line)]
        return "\n".join(([f"first error: {causes[0]}"] if causes else []) + text[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after ``timeout`` seconds."""
        self.terminate()
        self.wait_stopped(timeout)

    def terminate(self) -> None:
        """Ask the whole process group to stop (SIGTERM); :meth:`wait_stopped` finishes the job."""
        if self.process is not None:
            self._signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 10.0) -> None:
        """Wait for the leader up to ``timeout`` seconds, then SIGKILL whatever is left of the group."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self._signal(signal.SIGKILL)  # helpers (metrics server, manager) may outlive the leader
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.process = None

    def kill(self) -> None:
        """SIGKILL the process group at once (fault injection in tests)."""
        if self.process is not None:
            self._signal(signal.SIGKILL)
            self.process.wait(5)
            self.process = None

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
