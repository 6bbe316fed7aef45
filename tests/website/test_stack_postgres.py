"""The site on the real local stack with PostgreSQL as its event store and two gunicorn workers
(so events, exactly-once clicks and /metrics must hold across processes), driven over HTTP."""

import re

import pytest
import requests

from funflix.website import store

from .stack_helpers import arm_credits, stack_ports, wait_for

pytestmark = pytest.mark.slow


def metric_total(text: str, name: str, arm: str) -> float:
    return sum(float(v) for v in re.findall(rf'^{name}{{arm="{arm}"}} (\S+)$', text, re.M))


def test_two_workers_on_postgresql_count_each_click_once(tmp_path, quick_models_root, postgres):
    from funflix.serving.stack import LocalStack

    url = postgres.create_database("funflix_stack")
    with LocalStack(home=tmp_path / "home", models_root=quick_models_root, prometheus=False, model_workers=1,
                    website_workers=2, database_url=url, **stack_ports()) as stack:
        site = stack.website_url
        visitor = requests.Session()
        visitor.post(f"{site}/signin", data={"user_id": "7"}, allow_redirects=False).raise_for_status()
        html = visitor.get(f"{site}/").text
        arm = re.search(r'data-arm="(\w+)"', html).group(1)
        hrefs = re.findall(r'href="(/click/[^"]+)" data-testid="rec-item"', html)
        before = arm_credits(stack, arm)
        for href in (hrefs[0], hrefs[0], hrefs[1]):  # double click, then a second item
            assert visitor.get(site + href, allow_redirects=False).status_code == 302
        assert requests.get(site + hrefs[0], allow_redirects=False).status_code == 403  # another browser
        visitor.get(f"{site}/").raise_for_status()
        visitor.post(f"{site}/signout").raise_for_status()

        after = wait_for(lambda: arm_credits(stack, arm)[0] >= before[0] + 2 and arm_credits(stack, arm))
        assert (after[0] - before[0], after[1] - before[1]) == (2, 1)
        frame = store.load_impressions(url)
        assert frame["clicked"].tolist() == [1, 0] and frame["arm"].tolist() == [arm, arm]
        metrics = wait_for(lambda: (text := requests.get(f"{site}/metrics").text)
                           and metric_total(text, "funflix_website_impressions_total", arm) == 2 and text)
        assert metric_total(metrics, "funflix_website_impressions_total", arm) == 2  # summed over both workers
        assert metric_total(metrics, "funflix_website_clicks_total", arm) == 1
