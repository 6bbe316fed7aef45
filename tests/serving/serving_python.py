"""The serving environment from the tests' side: run code there and get its result back.

The components' classes import ``seldon_core``, which only the serving environment has, so tests of
them send snippets to one long-lived ``serving_worker.py`` process in that environment::

    serving.run("router = ABRouter(salt=salt); result = router.route({'user_id': 1}, [])", salt="s")
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from funflix.environments import serving_python
from funflix.paths import REPO_ROOT

WORKER = Path(__file__).with_name("serving_worker.py")


class ServingError(Exception):
    """An exception a snippet raised in the serving environment: its type name, message and HTTP status."""

    def __init__(self, type: str, message: str, status_code: int | None, traceback: str):
        super().__init__(f"{type}: {message}")
        self.type, self.message, self.status_code, self.traceback = type, message, status_code, traceback


class ServingPython:
    """A python process of the serving environment that runs snippets (a context manager)."""

    def __init__(self):
        self.process = subprocess.Popen([str(serving_python()), str(WORKER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)

    def run(self, source: str, **values: Any) -> Any:
        """Run ``source`` with ``values`` as variables; return its ``result`` (raise :class:`ServingError`)."""
        reply = self._ask({"source": source, "values": values})
        if "error" in reply:
            raise ServingError(**reply["error"])
        return reply["result"]

    def reset(self) -> None:
        """Forget what earlier snippets defined."""
        self._ask({"reset": True})

    def _ask(self, request: dict) -> dict:
        if self.process.poll() is not None:
            raise RuntimeError(f"the serving worker exited with {self.process.returncode}")
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the serving worker exited with {self.process.wait()}")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "ServingPython":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
