"""The simulators against the real local stack (Seldon components, gateway, website under gunicorn):
every impression and click they report is in the event store under the right arm, every row gets
its feedback, the control arm's CTR sits at the calibrated 7%, Chromium visits land the same
events, and Ctrl-C stops the bot with its browsers closed."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from funflix.serving.processes import free_port_block
from funflix.simulation.simulate import simulate
from funflix.website.store import load_impressions

pytestmark = pytest.mark.slow

FUNFLIX = str(Path(sys.executable).parent / "funflix")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, quick_models_root):
    from funflix.serving.stack import LocalStack

    base = free_port_block(6)
    local = LocalStack(home=tmp_path_factory.mktemp("sim-stack"), models_root=quick_models_root,
                       gateway_port=base, website_port=base + 1, component_port=base + 2, metrics_port=free_port_block(3),
                       prometheus=False)
    with local:
        yield local


@pytest.fixture(scope="module")
def db_url(stack) -> str:
    return stack.database_url


def impressions_since(db_url: str, start: datetime) -> pd.DataFrame:
    frame = load_impressions(db_url)
    return frame[frame["created_at"] >= start]


def wait_for_feedback(db_url: str, start: datetime, timeout: float = 60.0) -> pd.DataFrame:
    """The run's impressions once every one of them has its feedback sent to Seldon."""
    deadline = time.monotonic() + timeout
    while True:
        frame = impressions_since(db_url, start)
        if (frame["feedback_state"] == "sent").all() or time.monotonic() > deadline:
            return frame
        time.sleep(0.5)


def assert_store_matches(report: dict, frame: pd.DataFrame) -> None:
    stored = frame.groupby("arm")["clicked"].agg(["size", "sum"])
    simulated = {arm: (t["impressions"], t["clicks"]) for arm, t in report["arms"].items()}
    assert {arm: (int(row["size"]), int(row["sum"])) for arm, row in stored.iterrows()} == simulated
    assert set(frame["status"]) <= {"clicked", "unclicked"}, "signing out closes every row"
    assert (frame["feedback_state"] == "sent").all(), frame["feedback_state"].value_counts().to_dict()


def test_http_simulation_matches_the_event_store_and_the_calibration(stack, db_url, calibrated):
    start = datetime.now(timezone.utc)
    report = simulate("http", 400, site_url=stack.website_url, workers=6, seed=1, calibrated=calibrated,
                      browse_probability=0.3, progress=False)
    assert report["errors"] == {} and report["completed"] == 400
    assert report["fallback"]["impressions"] == 0
    assert set(report["arms"]) == {"control", "challenger"}
    assert sum(t["impressions"] for t in report["arms"].values()) == 400
    assert_store_matches(report, wait_for_feedback(db_url, start))

    control = report["arms"]["control"]
    n = control["impressions"]
    assert abs(control["ctr"] - 0.07) < 3 * math.sqrt(0.07 * 0.93 / n) + 0.01, control
    for arm, tally in report["arms"].items():  # clicks agree with the model's expectation for the rows shown
        assert abs(tally["z"]) < 4, (arm, tally)
    assert report["click_model"]["expected_ctr"]["control"] == pytest.approx(0.07, abs=1e-6)


def test_browser_bot_lands_the_same_events(stack, db_url, calibrated):
    start = datetime.now(timezone.utc)
    report = simulate("browser", 10, site_url=stack.website_url, workers=2, seed=2, calibrated=calibrated,
                      progress=False)
    assert report["errors"] == {}, report["error_examples"]
    assert report["completed"] == 10
    assert sum(t["impressions"] for t in report["arms"].values()) >= 10
    assert report["pages"] >= 20  # home and the sign-in page after signing out, at least
    assert_store_matches(report, wait_for_feedback(db_url, start))


def test_cli_prints_one_json_document(stack, quick_models_root, tmp_path):
    done = subprocess.run([FUNFLIX, "simulate", "--mode", "http", "--sessions", "30", "--site-url", stack.website_url,
                           "--models-dir", str(quick_models_root), "--seed", "4", "--json", "--no-progress"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "FUNFLIX_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["sessions"] == 30 and report["errors"] == {}
    assert report["click_model"]["target_ctr"] == 0.07


@pytest.mark.parametrize("arguments, message", [
    (["--sessions", "0"], "must be >= 1"),
    (["--sessions", "5", "--target-ctr", "1.5"], "strictly between 0 and 1"),
    (["--sessions", "5", "--mode", "carrier-pigeon"], "invalid choice"),
    (["--sessions", "5", "--site-url", "http://127.0.0.1:9"], "does not answer"),
])
def test_cli_rejects_bad_input(arguments, message, tmp_path):
    done = subprocess.run([FUNFLIX, "simulate", *arguments], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "FUNFLIX_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.browser
def test_ctrl_c_stops_the_bot_and_quits_its_browsers(stack, quick_models_root, tmp_path):
    bot = subprocess.Popen([FUNFLIX, "simulate", "--mode", "browser", "--sessions", "1000", "--workers", "2",
                            "--site-url", stack.website_url, "--models-dir", str(quick_models_root), "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "FUNFLIX_HOME": str(tmp_path)})
    try:
        stderr = ""
        deadline = time.monotonic() + 90
        while stderr.count("browser started") < 2 and time.monotonic() < deadline:
            stderr += os.read(bot.stderr.fileno(), 65536).decode()
        time.sleep(3)  # a few visits under way
        bot.send_signal(signal.SIGINT)
        out, rest = bot.communicate(timeout=60)
    finally:
        if bot.poll() is None:
            bot.kill()
    stderr += rest
    assert bot.returncode == 130, stderr[-2000:]
    report = json.loads(out)
    assert report["interrupted"] and 0 < report["sessions"] < 1000
    profiles = re.findall(r"browser started: chromedriver pid (\d+), profile (\S+)", stderr)
    assert len(profiles) == 2
    running = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True).stdout
    for pid, profile in profiles:
        assert profile not in running, f"a Chromium of the bot is still running ({profile})"
        assert not re.search(rf"^\s*{pid}\s", running, re.M), f"chromedriver {pid} is still running\n{stderr}"


def test_fallback_rows_count_in_no_arm(stack, db_url, calibrated):
    """With the gateway down the site shows popular fallback rows: the simulator counts them apart,
    and the event store keeps them out of every arm."""
    before = len(load_impressions(db_url))
    stack.kill("gateway")
    try:
        report = simulate("http", 20, site_url=stack.website_url, workers=2, seed=5, calibrated=calibrated,
                          progress=False)
    finally:
        stack.restart("gateway")
    assert report["errors"] == {} and report["arms"] == {}
    assert report["fallback"]["impressions"] == 20
    assert len(load_impressions(db_url)) == before
