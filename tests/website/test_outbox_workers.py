"""The outbox under two gunicorn workers and a gateway that is slow and refuses some payloads: each row
is posted once (never claimed again while being posted), a refused row is dead-lettered after one post
with its reason, and the dead letters show on /experiment, in /metrics and in `funflix analyze`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from funflix.serving.processes import ManagedProcess, free_port_block
from funflix.website import store

from .seldon_peer import SeldonPeer

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
MEMBERS = range(1, 17)
REFUSED = {3, 8}


def _visit(site: str, member: int) -> None:
    """Sign in, two rows (the first clicked for even members), sign out: two outbox rows."""
    with requests.Session() as browser:
        browser.headers["Connection"] = "close"  # no stale keep-alive connection reused after a slow step
        assert browser.post(f"{site}/signin", data={"user_id": str(member)}, allow_redirects=False).status_code == 302
        home = browser.get(f"{site}/", timeout=10).text
        if member % 2 == 0:
            link = re.search(r'href="(/click/[^"]+)" data-testid="rec-item"', home).group(1)
            assert browser.get(site + link, allow_redirects=False).status_code == 302
        assert browser.get(f"{site}/", timeout=10).status_code == 200
        assert browser.post(f"{site}/signout", allow_redirects=False).status_code == 302


def _metric(text: str, name: str, **labels) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture
def site(tmp_path, movielens_dir):
    """The site as gunicorn with two workers (each with its housekeeper delivering), in front of the peer."""
    with SeldonPeer() as peer:
        peer.feedback_delay, peer.refused_users = 0.3, REFUSED
        port = free_port_block(1)
        database = f"sqlite:///{tmp_path / 'events.sqlite3'}"
        (tmp_path / "multiproc").mkdir()
        env = {"FUNFLIX_HOME": str(tmp_path / "home"), "FUNFLIX_GATEWAY_URL": peer.url, "FUNFLIX_DATABASE_URL": database,
               "FUNFLIX_MOVIELENS_PATH": str(movielens_dir), "FUNFLIX_MODELS_ROOT": str(tmp_path / "no-models"),
               "FUNFLIX_HOUSEKEEPING_INTERVAL": "0.2", "FUNFLIX_FEEDBACK_TIMEOUT": "1.2",
               # a loaded machine must not turn rows into fallbacks (they have no feedback to post)
               "FUNFLIX_GATEWAY_TIMEOUT": "5",
               # a lease of 2.5 s: a batch of rows claimed at once would outlive it (0.3 s per post); a post that
               # times out on a loaded machine is retried, and each row still reaches the peer once
               "FUNFLIX_FEEDBACK_LEASE": "2.5", "FUNFLIX_EXPERIMENT_CACHE_SECONDS": "0",
               "prometheus_multiproc_dir": str(tmp_path / "multiproc")}
        command = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "8",
                   "funflix.website:create_app()"]
        process = ManagedProcess("website", command, tmp_path / "website.log", f"http://127.0.0.1:{port}/healthz",
                                 env={**os.environ, **env})
        process.start()
        try:
            process.wait_healthy(time.monotonic() + 60)
            yield {"url": f"http://127.0.0.1:{port}", "peer": peer, "database": database}
        finally:
            process.stop()


def _undelivered(database: str) -> int:
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            counts = store.feedback_counts(conn)
    finally:
        engine.dispose()
    return sum(n for (_, _, state), n in counts.items() if state in (store.PENDING, store.SENDING))


def _feedback_states(database: str) -> dict:
    """Feedback rows by (arm, reward, state) and impressions by status, for a failure's message."""
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT status, count(*) FROM impressions GROUP BY status")).all()
            return {"feedback": dict(store.feedback_counts(conn)), "impressions": dict(rows)}
    finally:
        engine.dispose()


def test_two_workers_post_each_row_once_and_dead_letter_refusals(site):
    url, peer, database = site["url"], site["peer"], site["database"]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda member: _visit(url, member), MEMBERS))
    deadline = time.monotonic() + 60
    while _undelivered(database) or len(peer.feedback) + len(peer.refused) < 2 * len(MEMBERS):
        assert time.monotonic() < deadline, (f"{_undelivered(database)} rows still undelivered; the peer got "
                                             f"{len(peer.feedback)} + {len(peer.refused)} refused; the store: "
                                             f"{_feedback_states(database)}")
        time.sleep(0.2)

    posted = Counter(body["response"]["meta"]["puid"] for body in peer.feedback + peer.refused)
    assert len(posted) == 2 * len(MEMBERS) and set(posted.values()) == {1}  # every row posted exactly once
    assert len(peer.refused) == 2 * len(REFUSED)  # a refusal is not retried
    frame = store.load_impressions(database)
    dead = frame[frame["feedback_state"] == store.DEAD]
    assert sorted(set(dead["user_id"])) == sorted(REFUSED) and len(dead) == 2 * len(REFUSED)
    assert set(frame["feedback_state"]) == {store.SENT, store.DEAD}

    metrics = requests.get(f"{url}/metrics", timeout=5).text  # summed over both workers' files
    assert _metric(metrics, "funflix_website_feedback_posts_total", outcome="dead") == len(dead)
    assert _metric(metrics, "funflix_website_feedback_posts_total", outcome="sent") == len(frame) - len(dead)
    assert _metric(metrics, "funflix_website_feedback_outbox", state="dead") == len(dead)
    for arm, rows in frame.groupby("arm"):
        assert _metric(metrics, "funflix_website_impressions_total", arm=arm) == len(rows)
        assert _metric(metrics, "funflix_website_clicks_total", arm=arm) == rows["clicked"].sum()
        assert _metric(metrics, "funflix_website_unclicked_impressions_total", arm=arm) == len(rows) - rows["clicked"].sum()

    page = requests.get(f"{url}/experiment", timeout=30).text
    assert f'data-testid="dead-letters" data-count="{len(dead)}"' in page
    assert page.count('data-testid="dead-letter"') == len(dead) and "answered 400" in page

    analyzed = subprocess.run([str(BIN / "funflix"), "analyze", "--db-url", database, "--json"],
                              capture_output=True, text=True, timeout=120)
    assert analyzed.returncode == 0, analyzed.stderr
    result = json.loads(analyzed.stdout)
    assert result["dead_lettered"] == len(dead)
    assert sum(arm["impressions"] for arm in result["arms"]) == len(frame) - len(dead)
