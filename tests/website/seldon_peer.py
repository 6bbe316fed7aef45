"""A small real HTTP server speaking the Seldon unified-endpoint contract, for unit tests.

It is a test peer (the other side of the wire), not a stand-in for website code: it answers
``/api/v1.0/predictions`` like the A/B graph (sticky arm by user id, ``meta.routing``,
``meta.tags``) and records every ``/api/v1.0/feedback`` body it accepts. ``mode`` switches it to
"down" (503), "slow" (sleeps ``delay`` seconds) or "no_routing" (omits ``meta.routing``). Each
feedback post takes ``feedback_delay`` seconds; feedback for ``refused_users`` gets a 400 (counted in
``refused``), as a gateway refusing a payload would.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARMS = ("control", "challenger")
ITEMS = [356, 318, 296, 593, 2571, 260, 480, 110, 589, 527, 2959, 1, 1196, 50, 2858]


class SeldonPeer:
    def __init__(self):
        self.mode = "ok"
        self.delay = 1.0
        self.feedback: list[dict] = []
        self.feedback_delay = 0.0
        self.refused_users: set[int] = set()
        self.refused: list[dict] = []
        self.predictions = 0
        self._lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if peer.mode == "down":
                    return self._send(503, {"status": {"code": 503, "info": "down"}})
                if peer.mode == "slow":
                    time.sleep(peer.delay)
                if self.path == "/api/v1.0/predictions":
                    return self._send(200, peer.predict(body))
                if self.path == "/api/v1.0/feedback":
                    time.sleep(peer.feedback_delay)
                    refused = body["response"]["jsonData"]["user_id"] in peer.refused_users
                    with peer._lock:
                        (peer.refused if refused else peer.feedback).append(body)
                    if refused:
                        return self._send(400, {"status": {"code": 400, "info": "payload refused by the peer"}})
                    return self._send(200, {"meta": {}, "data": {"ndarray": []}})
                return self._send(404, {"status": {"code": 404}})

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def predict(self, body: dict) -> dict:
        user_id, k = body["jsonData"]["user_id"], body["jsonData"]["k"]
        with self._lock:
            self.predictions += 1
        child = user_id % 2
        arm = ARMS[child]
        items = ITEMS[child: child + k]
        scores = [round(1.0 - i / 100, 3) for i in range(len(items))]
        meta = {"puid": uuid.uuid4().hex, "tags": {"arm": arm, "model_version": f"v-{arm}"}}
        if self.mode != "no_routing":
            meta["routing"] = {"ab-router": child}
        return {"jsonData": {"user_id": user_id, "recommendations": {str(i): s for i, s in zip(items, scores)},
                             "items": items, "scores": scores, "model": {"name": arm, "version": f"v-{arm}"},
                             "strategy": self._strategy(user_id, body["jsonData"].get("genres"))},
                "meta": meta}

    @staticmethod
    def _strategy(user_id: int, genres) -> str:
        if user_id < 10_000_000:
            return "personal"
        return "features" if genres else "popularity"

    def rewards(self) -> list[tuple[str, int]]:
        """``(arm, reward)`` of each feedback received, in order."""
        with self._lock:
            return [(f["response"]["meta"]["tags"]["arm"], f["reward"]) for f in self.feedback]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
