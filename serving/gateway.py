"""The local gateway: the Seldon executor's external REST API in front of the graph's components.

Semantics kept from the executor (Seldon Core v1, ``SELDON_ENABLE_ROUTING_INJECTION=true``):

- ``POST /api/v1.0/predictions``: give the request a ``meta.puid`` (keep the caller's), ask the
  router ``ab-router`` for a child, call that model, and answer its response with
  ``meta.routing = {"ab-router": <child>}`` and the ``puid`` added.
- ``POST /api/v1.0/feedback``: the served response's ``meta.routing`` picks the one child that
  gets the feedback; without routing it goes to every child (each model credits only its own
  lists). A credited feedback is then sent to the router too, so a bandit router learns.
- ``GET /live``, ``/ready`` (every component answers), ``/api/v1.0/health/status``,
  ``/prometheus`` (and ``/metrics``): the gateway's own request metrics, also on a port of their
  own with ``--metrics-port`` (so a NetworkPolicy can open the metrics and not the endpoint).

Bad input gets a 4xx JSON ``{"status": {"code", "info", "reason", "status": "FAILURE"}}``; a component
that is down or slow gets a 503 naming it, and the gateway keeps serving everything else.

Run: ``python -m funflix.serving.gateway --router 127.0.0.1:9000 --child control=127.0.0.1:9001 ...``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid

import tornado.httpserver
import tornado.web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from funflix.serving import metric_names
from funflix.serving.experiment_config import ROUTER_NODE, ExperimentConfig, load_experiment
from funflix.serving.recommend_request import InvalidRequest, parse_message
from funflix.serving.upstream import Upstream, UpstreamError, UpstreamResponse

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 64 * 1024
MAX_PUID = 128


class RequestRefused(Exception):
    """An answer other than 200: HTTP ``status``, a message, and a machine-readable ``reason``."""

    def __init__(self, status: int, info: str, reason: str = "BAD_REQUEST", component: str | None = None):
        super().__init__(info)
        self.status = status
        self.info = info
        self.reason = reason
        self.component = component


def error_body(status: int, info: str, reason: str, component: str | None = None) -> dict:
    body = {"status": {"code": status, "info": info, "reason": reason, "status": "FAILURE"}}
    if component:
        body["status"]["component"] = component
    return body


class Gateway:
    """The graph: one router and its model children (in the experiment's arm order)."""

    def __init__(self, config: ExperimentConfig, router: Upstream, children: list[Upstream],
                 max_body: int = DEFAULT_MAX_BODY):
        if [child.name for child in children] != config.arm_names:
            raise ValueError(f"children {[c.name for c in children]} must be the arms {config.arm_names} in order")
        self.config = config
        self.router = router
        self.children = children
        self.max_body = max_body
        self.registry = CollectorRegistry()
        self.requests = Counter(metric_names.GATEWAY_REQUESTS, "Gateway requests by endpoint, arm and HTTP code",
                                ["endpoint", "arm", "code"], registry=self.registry)
        self.latency = Histogram(metric_names.GATEWAY_LATENCY, "Gateway request latency", ["endpoint"],
                                 buckets=(.001, .0025, .005, .01, .02, .03, .05, .1, .25, .5, 1, 2.5, 5),
                                 registry=self.registry)
        self.upstream_errors = Counter(metric_names.GATEWAY_UPSTREAM_ERRORS, "Failed calls to components",
                                       ["component", "kind"], registry=self.registry)

    async def call(self, upstream: Upstream, method: str, path: str, body: bytes = b"") -> UpstreamResponse:
        """Call a component; 4xx answers pass through, failures become 503/502 naming it."""
        try:
            answer = await upstream.request(method, path, body)
        except UpstreamError as exc:
            self.upstream_errors.labels(exc.component, exc.kind).inc()
            raise RequestRefused(503, str(exc), "COMPONENT_UNAVAILABLE", exc.component) from None
        if 400 <= answer.status < 500:
            raise _PassThrough(answer, upstream.name)
        if answer.status != 200:
            self.upstream_errors.labels(upstream.name, "failed").inc()
            raise RequestRefused(502, f"component {upstream.name!r} failed with HTTP {answer.status}",
                               "COMPONENT_FAILED", upstream.name)
        return answer

    async def predict(self, message: dict) -> tuple[dict, str]:
        """Route one validated request; return the served response and the arm."""
        meta = message.get("meta") or {}
        puid = meta.get("puid") or uuid.uuid4().hex
        message["meta"] = {**meta, "puid": puid}
        body = json.dumps(message).encode()
        routed = _json(await self.call(self.router, "POST", "/route", body), self.router.name)
        child = _child_index(routed, len(self.children))
        upstream = self.children[child]
        response = _json(await self.call(upstream, "POST", "/predict", body), upstream.name)
        response_meta = response.setdefault("meta", {})
        response_meta["puid"] = puid
        response_meta["routing"] = {ROUTER_NODE: child}
        return response, upstream.name

    async def feedback(self, message: dict, body: bytes) -> tuple[dict, str]:
        """Deliver one validated feedback; return the crediting child's answer and its arm."""
        child = _routing_of(message, self.config)
        targets = [child] if child is not None else range(len(self.children))
        answers = await asyncio.gather(
            *(self.call(self.children[i], "POST", "/api/v1.0/feedback", body) for i in targets),
            return_exceptions=True)
        results = [(i, _json(a, self.children[i].name)) for i, a in zip(targets, answers)
                   if not isinstance(a, BaseException)]
        credited = [(i, r) for i, r in results
                    if isinstance(r.get("jsonData"), dict) and r["jsonData"].get("credited")]
        failures = [a for a in answers if isinstance(a, BaseException)]
        if failures and not credited:
            raise failures[0]
        index, result = credited[0] if credited else results[0]
        if credited:
            learn = {**message, "response": {**message["response"],
                                             "meta": {**message["response"]["meta"], "routing": {ROUTER_NODE: index}}}}
            try:  # the click is already counted; a router that misses it only learns less
                await self.call(self.router, "POST", "/api/v1.0/feedback", json.dumps(learn).encode())
            except (RequestRefused, _PassThrough) as exc:
                log.warning("router did not take feedback: %s", exc)
        return result, self.children[index].name

    async def health(self) -> dict[str, str]:
        """Each component's state: "ok", or why not."""
        upstreams = [self.router, *self.children]
        answers = await asyncio.gather(*(u.request("GET", "/health/status", timeout=2.0) for u in upstreams),
                                       return_exceptions=True)
        states = {}
        for upstream, answer in zip(upstreams, answers):
            if isinstance(answer, BaseException):
                states[upstream.name] = str(answer)
            else:
                states[upstream.name] = "ok" if answer.status == 200 else f"HTTP {answer.status}"
        return states


class _PassThrough(Exception):
    """A component's own 4xx answer, returned to the caller unchanged."""

    def __init__(self, answer: UpstreamResponse, component: str):
        super().__init__(f"{component} answered {answer.status}")
        self.answer = answer
        self.component = component


def _json(answer: UpstreamResponse, component: str) -> dict:
    try:
        document = json.loads(answer.body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise RequestRefused(502, f"component {component!r} answered something that is not a JSON object",
                           "COMPONENT_FAILED", component)
    return document


def _child_index(routed: dict, n_children: int) -> int:
    """The child index in a router's answer (``data.tensor`` for jsonData requests, else ``data.ndarray``)."""
    data = routed.get("data")
    try:
        values = data.get("tensor", {}).get("values") or [v for row in data.get("ndarray", []) for v in row]
        index = float(values[0]) if len(values) == 1 else -1.0
    except (AttributeError, TypeError, ValueError):
        index = -1.0
    if not index.is_integer() or not 0 <= index < n_children:
        raise RequestRefused(502, f"router answered {data!r}, not a child index in 0..{n_children - 1}",
                           "COMPONENT_FAILED", ROUTER_NODE)
    return int(index)


def served_meta(message: dict, expected: str) -> dict:
    """Check a feedback's reward, request and served response (its ``meta.puid``); return that meta."""
    reward = message.get("reward")
    if isinstance(reward, bool) or not isinstance(reward, (int, float)) or reward not in (0, 1):
        raise RequestRefused(400, f"reward must be 0 (not clicked) or 1 (clicked), got {reward!r}")
    if "request" in message and not isinstance(message["request"], dict):
        raise RequestRefused(400, "request must be the JSON object that was sent for predictions")
    response = message.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("meta"), dict):
        raise RequestRefused(400, f"feedback needs the served response, with its meta ({expected})")
    puid = response["meta"].get("puid")
    if not isinstance(puid, str) or not 0 < len(puid) <= MAX_PUID:
        raise RequestRefused(400, "the served response's meta.puid is missing or not a string")
    return response["meta"]


def _routing_of(message: dict, config: ExperimentConfig) -> int | None:
    """Validate a feedback message; return the child in its served response's routing, if any."""
    meta = served_meta(message, "puid, routing, tags")
    tags = meta.get("tags", {})
    if not isinstance(tags, dict):
        raise RequestRefused(400, "meta.tags must be an object")
    arm = tags.get("arm")
    if arm is not None and arm not in config.arm_names:
        raise RequestRefused(400, f"unknown arm {arm!r} in meta.tags; arms are {', '.join(config.arm_names)}")
    routing = meta.get("routing", {})
    if not isinstance(routing, dict):
        raise RequestRefused(400, "meta.routing must be an object like {\"ab-router\": 0}")
    if ROUTER_NODE not in routing:
        if arm is None:
            raise RequestRefused(400, "the served response has neither meta.routing nor meta.tags.arm")
        return None
    child = routing[ROUTER_NODE]
    if isinstance(child, bool) or not isinstance(child, int) or not 0 <= child < len(config.arms):
        raise RequestRefused(400, f"meta.routing.{ROUTER_NODE} must be a child index in 0..{len(config.arms) - 1}, "
                                f"got {child!r} (unknown arm)")
    if arm is not None and arm != config.arm_names[child]:
        raise RequestRefused(400, f"meta.routing sends to {config.arm_names[child]!r} but meta.tags.arm is {arm!r}")
    return child


class JSONHandler(tornado.web.RequestHandler):
    """JSON errors for everything, including tornado's own (404, 405)."""

    def initialize(self, gateway: Gateway):
        self.gateway = gateway

    def write_error(self, status_code: int, **kwargs) -> None:
        reason = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "BODY_TOO_LARGE"}.get(status_code, "ERROR")
        self.write_json(status_code, error_body(status_code, self._reason, reason))

    def write_json(self, status: int, document: dict | bytes) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(document if isinstance(document, bytes) else json.dumps(document).encode())


@tornado.web.stream_request_body
class APIHandler(JSONHandler):
    """A POST endpoint with a body-size limit (413 before the body is read when Content-Length says so)."""

    endpoint = ""

    def prepare(self):
        self.started = time.perf_counter()
        self.chunks: list[bytes] = []
        self.size = 0
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > self.gateway.max_body):
            self.answer_error(RequestRefused(413, f"request body over the {self.gateway.max_body}-byte limit",
                                           "BODY_TOO_LARGE"))

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size <= self.gateway.max_body:
            self.chunks.append(chunk)

    def body_message(self) -> tuple[dict, bytes]:
        if self.size > self.gateway.max_body:
            raise RequestRefused(413, f"request body over the {self.gateway.max_body}-byte limit", "BODY_TOO_LARGE")
        body = b"".join(self.chunks)
        try:
            message = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise RequestRefused(400, f"malformed JSON: {exc}") from None
        if not isinstance(message, dict):
            raise RequestRefused(400, "the request body must be a JSON object")
        return message, body

    async def post(self):
        try:
            message, body = self.body_message()
            document, arm = await self.handle(message, body)
        except RequestRefused as exc:
            self.answer_error(exc)
        except _PassThrough as exc:
            self.count(exc.answer.status, exc.component)
            self.write_json(exc.answer.status, exc.answer.body)
        else:
            self.count(200, arm)
            self.write_json(200, document)

    def answer_error(self, exc: RequestRefused) -> None:
        self.count(exc.status, exc.component or "")
        self.write_json(exc.status, error_body(exc.status, exc.info, exc.reason, exc.component))

    def count(self, status: int, arm: str) -> None:
        self.gateway.requests.labels(self.endpoint, arm, str(status)).inc()
        self.gateway.latency.labels(self.endpoint).observe(time.perf_counter() - self.started)


class PredictionsHandler(APIHandler):
    endpoint = "predictions"

    async def handle(self, message: dict, body: bytes) -> tuple[dict, str]:
        try:
            parse_message(message)
        except InvalidRequest as exc:
            raise RequestRefused(400, str(exc)) from None
        meta = message.get("meta", {})
        puid = meta.get("puid", "") if isinstance(meta, dict) else None
        if not isinstance(puid, str) or len(puid) > MAX_PUID:
            raise RequestRefused(400, "meta must be an object whose puid, if given, is a short string")
        return await self.gateway.predict(message)


class FeedbackHandler(APIHandler):
    endpoint = "feedback"

    async def handle(self, message: dict, body: bytes) -> tuple[dict, str]:
        return await self.gateway.feedback(message, body)


class LiveHandler(JSONHandler):
    def get(self):
        self.write_json(200, {"status": "live"})


class ReadyHandler(JSONHandler):
    async def get(self):
        states = await self.gateway.health()
        ready = all(state == "ok" for state in states.values())
        self.write_json(200 if ready else 503, {"status": "ready" if ready else "unavailable", "components": states})


class MetricsHandler(JSONHandler):
    def get(self):
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.gateway.registry))


class NotFoundHandler(JSONHandler):
    def prepare(self):
        raise tornado.web.HTTPError(404, reason=f"no endpoint {self.request.method} {self.request.path}")


def make_metrics_app(gateway: Gateway) -> tornado.web.Application:
    """Only ``/prometheus`` (and ``/metrics``), for ``--metrics-port``."""
    args = {"gateway": gateway}
    return tornado.web.Application([(r"/(?:prometheus|metrics)", MetricsHandler, args)],
                                   default_handler_class=NotFoundHandler, default_handler_args=args)


def make_app(gateway: Gateway) -> tornado.web.Application:
    args = {"gateway": gateway}
    return tornado.web.Application([
        (r"/api/v[01]\.[01]/predictions", PredictionsHandler, args),
        (r"/api/v[01]\.[01]/feedback", FeedbackHandler, args),
        (r"/live", LiveHandler, args),
        (r"/health/ping", LiveHandler, args),
        (r"/ready", ReadyHandler, args),
        (r"/api/v1\.0/health/status", ReadyHandler, args),
        (r"/(?:prometheus|metrics)", MetricsHandler, args),
    ], default_handler_class=NotFoundHandler, default_handler_args=args)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected host:port, got {text!r}")
    return host, int(port)


def _child(text: str) -> tuple[str, str, int]:
    name, _, address = text.partition("=")
    if not name or not address:
        raise argparse.ArgumentTypeError(f"expected name=host:port, got {text!r}")
    return (name, *_address(address))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m funflix.serving.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--metrics-port", type=int, help="also serve /prometheus on this port")
    parser.add_argument("--config", help="values.yaml holding the experiment (default: the chart's)")
    root = parser.add_mutually_exclusive_group(required=True)
    root.add_argument("--router", type=_address, help="host:port of the router component (design ab)")
    root.add_argument("--combiner", type=_address, help="host:port of the interleaving combiner (design interleaving)")
    parser.add_argument("--child", type=_child, action="append", required=True, help="arm=host:port, in arm order")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds before a component counts as down")
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY, help="largest request body in bytes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    config = load_experiment(args.config)
    if (args.combiner is not None) != (config.design == "interleaving"):
        parser.error(f"experiment design {config.design!r} needs --{'combiner' if args.router else 'router'}")
    graph = Gateway
    if args.combiner is not None:
        from funflix.serving.combiner_gateway import CombinerGateway as graph
    gateway = graph(config, Upstream(config.root_node, *(args.router or args.combiner), timeout=args.timeout),
                    [Upstream(name, host, port, timeout=args.timeout) for name, host, port in args.child],
                    max_body=args.max_body)

    async def serve():
        server = tornado.httpserver.HTTPServer(make_app(gateway), max_body_size=max(args.max_body, 1 << 20))
        server.listen(args.port, args.host)
        if args.metrics_port:
            tornado.httpserver.HTTPServer(make_metrics_app(gateway)).listen(args.metrics_port, args.host)
        log.info("gateway on http://%s:%d (%s %s, arms %s)", args.host, args.port, config.root_node,
                 gateway.router.url, ", ".join(f"{c.name}={c.url}" for c in gateway.children))
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":  # run the package's copy, so the combiner graph shares its classes
    from funflix.serving import gateway as package_module

    package_module.main()
