"""`funflix k8s validate --manifests FILE` (edited manifests, not the chart) and `--server` without a server.

The server-side checks themselves run against the real test cluster in tests/cluster/test_chart_on_cluster.py.
"""

from __future__ import annotations

import json

import yaml

from funflix import k8s
from funflix.serving.processes import free_port_block

from .test_chart import _run_cli


def test_manifests_file_is_checked_instead_of_the_chart(helm, tmp_path, capsys):
    docs = k8s.documents(k8s.render(k8s.load_values()))
    sdep = next(d for d in docs if d["kind"] == "SeldonDeployment")
    sdep["spec"]["predictors"][0]["replicas"] = "two"
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    assert _run_cli("k8s", "validate", "--manifests", str(path), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    failed = {d["kind"]: d["errors"] for d in report["documents"] if d["errors"]}
    assert failed == {"SeldonDeployment": ["spec.predictors.0.replicas: 'two' is not of type 'integer'"]}
    assert report["lint"]["output"].startswith("skipped")
    assert _run_cli("k8s", "validate", "--manifests", str(tmp_path / "absent.yaml")) == 2
    assert "absent.yaml does not exist" in capsys.readouterr().err


def test_server_check_without_a_server_is_a_one_line_error(helm, tmp_path, capsys):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "down",
        "clusters": [{"name": "down", "cluster": {"server": f"https://127.0.0.1:{free_port_block(1)}"}}],
        "contexts": [{"name": "down", "context": {"cluster": "down", "user": "me"}}],
        "users": [{"name": "me", "user": {"token": "t"}}]}))
    manifests = tmp_path / "one.yaml"
    manifests.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}))
    assert _run_cli("k8s", "validate", "--server", "--kubeconfig", str(kubeconfig), "--manifests", str(manifests)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("funflix k8s: error: no API server answered kubectl") and "\n" not in err
    assert "connection refused" in err
