"""The Kubernetes API as the cluster operations use it: a connection, conflict-safe patches, Events.

A change is a JSON Patch that also sets ``metadata.resourceVersion`` to the version it was computed
from: the API server refuses it with 409 Conflict when the object changed in between, and
:func:`patch_safely` then reads the object again and recomputes the change from what is there now,
so someone else's edit is never overwritten.
"""

from __future__ import annotations

import getpass
import json
import socket
from datetime import datetime, timezone
from typing import Callable

JSON_PATCH = "application/json-patch+json"
CONFLICT_ATTEMPTS = 5
EVENT_SOURCE = "funflix-k8s"


class ApiError(ValueError):
    """The API server refused a request, or none answered: one line for the user."""


def connect(kubeconfig: str | None = None, context: str | None = None):
    """An ``ApiClient`` from ``kubeconfig`` (or $KUBECONFIG, ~/.kube/config), else the in-cluster service account."""
    from kubernetes import client, config

    try:
        api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        if not api_client.configuration.verify_ssl:  # the kubeconfig asks for it: do not warn on every request
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return api_client
    except (config.ConfigException, FileNotFoundError, OSError) as outside:
        if kubeconfig:
            raise ApiError(f"cannot load kubeconfig {kubeconfig}: {outside}") from None
        try:
            config.load_incluster_config()
        except config.ConfigException:
            raise ApiError(f"no cluster configured: no kubeconfig ({outside}) and not inside a pod") from None
        return client.ApiClient()


def one_line(exc: Exception) -> str:
    """What the API server said (its Status message), or the connection error, on one line."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        try:
            message = json.loads(exc.body or "{}").get("message") or exc.reason
        except ValueError:
            message = exc.reason
        return f"{exc.status} {exc.reason}: {message}"
    return " ".join(str(exc).split())


def call(function: Callable, *args, **kwargs):
    """``function(*args, **kwargs)``, its API or connection error made an :class:`ApiError`."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return function(*args, **kwargs)
    except (ApiException, HTTPError, OSError) as exc:
        raise ApiError(one_line(exc)) from None


def pointer(*parts: str | int) -> str:
    """A JSON Pointer (RFC 6901) to ``parts``: ``/`` and ``~`` inside a part escaped."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def annotation_ops(obj: dict, annotations: dict[str, str]) -> list[dict]:
    """JSON Patch operations setting ``annotations`` on ``obj`` (which may have none yet)."""
    ops = [] if obj["metadata"].get("annotations") else [{"op": "add", "path": "/metadata/annotations", "value": {}}]
    return ops + [{"op": "add", "path": pointer("metadata", "annotations", key), "value": value}
                  for key, value in annotations.items()]


def patch_safely(read: Callable[[], dict], patch: Callable[[list[dict]], dict],
                 change: Callable[[dict], list[dict]], attempts: int = CONFLICT_ATTEMPTS) -> tuple[dict, int]:
    """Read, compute ``change(obj)`` (JSON Patch ops), apply it only if ``obj`` is still current.

    On 409 Conflict the object is read again and the change recomputed from it. Returns the patched
    object and the number of conflicts met.
    """
    from kubernetes.client.exceptions import ApiException

    for conflicts in range(attempts):
        obj = read()
        ops = change(obj)
        precondition = {"op": "replace", "path": "/metadata/resourceVersion",
                        "value": obj["metadata"]["resourceVersion"]}
        try:
            return patch([precondition, *ops]), conflicts
        except ApiException as exc:
            if exc.status != 409:
                raise ApiError(one_line(exc)) from None
    raise ApiError(f"the object kept changing: {attempts} conflicting writes in a row, nothing applied")


def actor() -> str:
    """Who acts, for Events and annotations: user@host, or the pod's name inside a cluster."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def record_event(api_client, obj: dict, reason: str, message: str, warning: bool = False) -> dict:
    """A core/v1 Event about ``obj`` (any kind: the involved object is its reference)."""
    from kubernetes import client

    meta = obj["metadata"]
    stamp = now_iso()
    event = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"],
                           "namespace": meta["namespace"], "uid": meta["uid"],
                           "resourceVersion": meta["resourceVersion"]},
        "reason": reason, "message": message[:1024], "type": "Warning" if warning else "Normal",
        "source": {"component": EVENT_SOURCE}, "reportingComponent": EVENT_SOURCE, "reportingInstance": actor(),
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }
    created = call(client.CoreV1Api(api_client).create_namespaced_event, meta["namespace"],
                   client.CoreV1Event.from_dict(event))
    return api_client.sanitize_for_serialization(created)
