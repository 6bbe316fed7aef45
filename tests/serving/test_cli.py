"""`funflix up`: the whole local stack (with the website when it exists) comes up, prints its URLs,
and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from funflix.serving.experiment_config import VALUES_FILE
from funflix.serving.processes import free_port_block, http_status, port_in_use

pytestmark = pytest.mark.slow
FUNFLIX = str(Path(sys.executable).parent / "funflix")


def test_up_without_models_says_what_to_do(tmp_path):
    env = {**os.environ, "FUNFLIX_HOME": str(tmp_path)}
    done = subprocess.run([FUNFLIX, "up", "--no-train", "--no-website", "--no-prometheus"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "funflix train" in done.stderr


def test_up_without_a_serving_environment_says_what_to_do(tmp_path, quick_models_root):
    env = {**os.environ, "FUNFLIX_HOME": str(tmp_path), "FUNFLIX_SERVING_PYTHON": str(tmp_path / "none" / "python")}
    done = subprocess.run([FUNFLIX, "up", "--no-train", "--no-website", "--no-prometheus",
                           "--models-root", str(quick_models_root)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "no seldon-core-microservice beside it" in done.stderr and "Traceback" not in done.stderr


def test_up_starts_everything_and_ctrl_c_stops_it_all(tmp_path, quick_models_root):
    base, metrics = free_port_block(4), free_port_block(3)
    ports = {"gateway": base, "website": base + 1, "prometheus": base + 2}
    command = [FUNFLIX, "up", "--models-root", str(quick_models_root), "--gateway-port", str(base),
               "--website-port", str(base + 1), "--prometheus-port", str(base + 2),
               "--component-port", str(base + 3), "--metrics-port", str(metrics)]
    env = {**os.environ, "FUNFLIX_HOME": str(tmp_path)}
    up = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        lines = []
        while not any("Ctrl-C" in line for line in lines):
            line = up.stdout.readline()
            assert line or up.poll() is None, "".join(lines)
            lines.append(line)
            assert time.monotonic() < deadline, "".join(lines)
        output = "".join(lines)
        assert f"http://127.0.0.1:{base}" in output and f"http://127.0.0.1:{base + 2}" in output
        assert requests.get(f"http://127.0.0.1:{base}/ready", timeout=5).status_code == 200
        assert requests.post(f"http://127.0.0.1:{base}/api/v1.0/predictions",
                             json={"jsonData": {"user_id": 1}}, timeout=5).status_code == 200
        assert http_status(f"http://127.0.0.1:{base + 2}/-/ready") == 200
        assert f"http://127.0.0.1:{base + 1}" in output
        assert http_status(f"http://127.0.0.1:{base + 1}/healthz") == 200
        jobs = {"funflix-gateway", "funflix-components", "funflix-website"}
        while True:  # Prometheus scrapes every part (5 s interval)
            result = requests.get(f"http://127.0.0.1:{base + 2}/api/v1/query", params={"query": "min by (job) (up)"},
                                  timeout=5).json()["data"]["result"]
            if {r["metric"]["job"] for r in result if r["value"][1] == "1"} == jobs:
                break
            assert time.monotonic() < deadline, result
            time.sleep(0.5)
        assert (tmp_path / "logs" / "gateway.log").is_file()
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(60)
    assert up.returncode == 130
    component_ports = [base + 3, base + 4, base + 5, metrics, metrics + 1, metrics + 2]
    deadline = time.monotonic() + 5
    while any(port_in_use(p) for p in [*ports.values(), *component_ports]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in [*ports.values(), *component_ports] if port_in_use(p)], "a process outlived Ctrl-C"


def test_up_names_a_component_that_will_not_start_and_leaves_nothing_running(tmp_path, quick_models_root):
    values = yaml.safe_load(VALUES_FILE.read_text())
    values["experiment"]["arms"][1]["version"] = "v0-never-trained"
    config = tmp_path / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    base, metrics = free_port_block(4), free_port_block(3)
    done = subprocess.run([FUNFLIX, "up", "--config", str(config), "--models-root", str(quick_models_root),
                           "--no-website", "--no-prometheus", "--gateway-port", str(base),
                           "--component-port", str(base + 1), "--metrics-port", str(metrics)],
                          env={**os.environ, "FUNFLIX_HOME": str(tmp_path / "home")}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "challenger exited" in done.stderr, done.stderr
    assert "first error: FileNotFoundError: no artifact challenger/v0-never-trained" in done.stderr
    ports = [base, base + 1, base + 2, base + 3, metrics, metrics + 1, metrics + 2]
    assert not [p for p in ports if port_in_use(p)]
