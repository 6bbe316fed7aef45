"""Exact counts end to end on the real local stack, the website with two gunicorn workers: 16 members
browse at once (one of them fires 8 concurrent copies of a click); after the outbox drains, the arms'
counters, the event store and the website's own metrics agree exactly."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from funflix.serving.stack import LocalStack
from funflix.website import store

from .stack_helpers import arm_credits, stack_ports

pytestmark = pytest.mark.slow

MEMBERS = range(1, 17)
COPIES_OF = 2  # this member's click arrives as 8 concurrent requests


def _visit(site: str, member: int) -> None:
    """Sign in, a row (clicked by even members), a second row, sign out."""
    with requests.Session() as browser:
        browser.headers["Connection"] = "close"  # no stale keep-alive connection reused after a slow step
        assert browser.post(f"{site}/signin", data={"user_id": str(member)}, allow_redirects=False).status_code == 302
        home = browser.get(f"{site}/", timeout=30).text
        assert 'data-fallback="false"' in home
        if member % 2 == 0:
            link = site + re.search(r'href="(/click/[^"]+)" data-testid="rec-item"', home).group(1)
            copies = 8 if member == COPIES_OF else 1
            cookies = browser.cookies.get_dict()
            with ThreadPoolExecutor(copies) as pool:  # separate connections: both workers take some
                codes = list(pool.map(lambda _: requests.get(link, cookies=cookies, allow_redirects=False,
                                                             timeout=30).status_code, range(copies)))
            assert codes == [302] * copies
        assert browser.get(f"{site}/", timeout=30).status_code == 200
        assert browser.post(f"{site}/signout", allow_redirects=False).status_code == 302


def _metric(text: str, name: str, **labels) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def _outbox(database: str) -> dict:
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            return store.feedback_counts(conn)
    finally:
        engine.dispose()


def test_arm_counters_store_and_site_metrics_agree_under_concurrency(tmp_path, quick_models_root, monkeypatch):
    monkeypatch.setenv("FUNFLIX_GATEWAY_TIMEOUT", "5")  # no fallback rows on a busy machine
    with LocalStack(home=tmp_path / "home", models_root=quick_models_root, prometheus=False, website_workers=2,
                    **stack_ports()) as stack:
        before = {arm: arm_credits(stack, arm) for arm in stack.config.arm_names}
        with ThreadPoolExecutor(len(MEMBERS)) as pool:
            list(pool.map(lambda member: _visit(stack.website_url, member), MEMBERS))
        deadline = time.monotonic() + 60
        while any(state != store.SENT for _, _, state in _outbox(stack.database_url)):
            assert time.monotonic() < deadline, _outbox(stack.database_url)
            time.sleep(0.2)

        frame = store.load_impressions(stack.database_url)
        assert len(frame) == 2 * len(MEMBERS) and frame["clicked"].sum() == len(MEMBERS) // 2
        metrics = requests.get(f"{stack.website_url}/metrics", timeout=5).text  # both workers' counters
        for arm in stack.config.arm_names:
            rows = frame[frame["arm"] == arm]
            impressions, clicks = arm_credits(stack, arm)
            assert (impressions - before[arm][0], clicks - before[arm][1]) == (len(rows), rows["clicked"].sum())
            assert _metric(metrics, "funflix_website_impressions_total", arm=arm) == len(rows)
            assert _metric(metrics, "funflix_website_clicks_total", arm=arm) == rows["clicked"].sum()
            assert _metric(metrics, "funflix_website_feedback_posts_total", arm=arm, outcome="sent") == len(rows)
        assert _metric(metrics, "funflix_website_click_events_total", result="counted") == len(MEMBERS) // 2
        assert _metric(metrics, "funflix_website_click_events_total", result="repeat") == 7  # the copies
