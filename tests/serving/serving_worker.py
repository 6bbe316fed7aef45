"""Runs in the serving environment for the tests: executes code snippets sent as JSON lines.

Each request line is ``{"source": ..., "values": {...}}``: the snippet runs in a namespace that holds
the values and whatever earlier snippets defined, and its ``result`` goes back as a JSON line; an
exception goes back as ``{"error": {"type", "message", "status_code", "traceback"}}``.
``{"reset": true}`` empties the namespace. Nothing here imports the main environment.
"""

import json
import sys
import traceback


def encode(value):
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"a snippet's result holds a {type(value).__name__}, which JSON cannot carry")


def answer(request: dict, namespace: dict) -> dict:
    namespace.update(request["values"])
    namespace.pop("result", None)
    try:
        exec(request["source"], namespace)
        return {"result": namespace.get("result")}
    except Exception as exc:  # reported to the test, which asserts on it
        return {"error": {"type": type(exc).__name__, "message": getattr(exc, "message", None) or str(exc),
                          "status_code": getattr(exc, "status_code", None), "traceback": traceback.format_exc()}}


def main() -> None:
    channel, sys.stdout = sys.stdout, sys.stderr  # prints and logs of the code under test stay off the channel
    namespace: dict = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("reset"):
            namespace = {}
            reply = {"result": None}
        else:
            reply = answer(request, namespace)
        channel.write(json.dumps(reply, default=encode) + "\n")
        channel.flush()


if __name__ == "__main__":
    main()
