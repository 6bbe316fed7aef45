"""``funflix k8s validate --server``: each document checked by a live API server, nothing stored.

``kubectl apply --dry-run=server`` sends every object through the API server's whole admission
path (schema validation of built-in kinds and of custom resources against their CRD, defaulting,
admission plugins) and stores none of them. Its refusal is reported per document, one line each.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import yaml

UNREACHABLE = ("Unable to connect to the server", "connection refused", "no such host", "i/o timeout",
               "couldn't get current server API group list")
SELDON_CRD_HINT = ("install Seldon's CRD first: kubectl apply --server-side -f "
                   "seldondeployments.machinelearning.seldon.io.v1.17.1.yaml")


def kubectl_binary() -> str:
    """$FUNFLIX_KUBECTL, else kubectl on PATH."""
    found = os.environ.get("FUNFLIX_KUBECTL") or shutil.which("kubectl")
    if not found:
        raise FileNotFoundError("kubectl not found: install it (Debian: apt-get install kubernetes-client) "
                                "or set FUNFLIX_KUBECTL")
    return found


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("W1")]
    return " ".join(lines).removeprefix("error: ").removeprefix("Error from server: ")


def server_errors(document: dict, namespace: str, kubeconfig: str | None = None) -> list[str]:
    """What the API server says about one document under ``--dry-run=server`` ([] when it accepts it).

    ValueError when no API server answers (the kubeconfig's server is down or unreachable).
    """
    # --validate=false: the API server is the judge (kubectl's own client-side check would answer first)
    command = [kubectl_binary(), "apply", "--dry-run=server", "--validate=false", "--namespace", namespace,
               "-o", "name", "-f", "-"]
    if kubeconfig:
        command[1:1] = ["--kubeconfig", str(kubeconfig)]
    done = subprocess.run(command, input=yaml.safe_dump(document, sort_keys=False), capture_output=True, text=True,
                          timeout=60)
    if done.returncode == 0:
        return []
    message = _one_line(done.stderr) or f"kubectl exited with status {done.returncode}"
    if any(marker in done.stderr for marker in UNREACHABLE) and "is invalid" not in done.stderr:
        raise ValueError(f"no API server answered kubectl ({kubeconfig or 'default kubeconfig'}): {message}")
    if "no matches for kind" in message and document.get("kind") == "SeldonDeployment":
        message += f" ({SELDON_CRD_HINT})"
    return [f"API server: {message}"]
