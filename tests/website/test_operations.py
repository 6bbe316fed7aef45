"""/metrics, /healthz, /readyz and /experiment."""

import re


def metric(text, name, **labels):
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}{{{selector}}} (\S+)$" if labels else rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_impressions_clicks_and_feedback_per_arm(actions, client):
    actions.signin(2)
    _, _, links = actions.home()
    client.get(links[0][0])
    actions.home()
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "funflix_website_impressions_total", arm="control") == 2
    assert metric(text, "funflix_website_clicks_total", arm="control") == 1
    assert metric(text, "funflix_website_feedback_posts_total", arm="control", outcome="sent", reward="1") == 1
    assert metric(text, "funflix_website_feedback_outbox", arm="control", reward="1", state="sent") == 1
    assert metric(text, "funflix_website_seldon_request_seconds_count", call="predict", outcome="ok") == 2
    assert metric(text, "funflix_website_page_render_seconds_count", page="recs.home") == 2


def test_health_and_readiness(client, peer):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["event_store"] == "ok"


def test_readiness_fails_without_the_catalogue(make_app, tmp_path):
    app = make_app(CATALOG=None, MOVIELENS_PATH=str(tmp_path / "missing"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["catalog"].startswith("error")


def test_experiment_page_reports_ctr_per_arm_from_the_store(app, client):
    for user, clicks in ((2, True), (4, False), (3, True), (5, True)):
        visitor = app.test_client()
        visitor.post("/signin", data={"user_id": str(user)})
        html = visitor.get("/").get_data(as_text=True)
        if clicks:
            visitor.get(re.search(r'href="(/click/[^"]+)"', html).group(1))
    page = client.get("/experiment").get_data(as_text=True)
    assert re.search(r'data-arm="control" data-impressions="2" data-clicks="1"', page)
    assert re.search(r'data-arm="challenger" data-impressions="2" data-clicks="2"', page)
    assert 'data-testid="lift" data-arm="challenger" data-lift="1.0"' in page and "+100.0%" in page
    assert 'data-testid="verdict"' in page and 'data-testid="srm" data-mismatch="false"' in page
    assert page.count("<svg") == 2


def test_experiment_page_without_impressions(client):
    page = client.get("/experiment")
    assert page.status_code == 200 and 'data-testid="no-data"' in page.get_data(as_text=True)


def test_experiment_page_is_cached_for_its_ttl(make_app):
    app = make_app(EXPERIMENT_CACHE_SECONDS=60.0)
    client = app.test_client()
    assert 'data-testid="no-data"' in client.get("/experiment").get_data(as_text=True)
    visitor = app.test_client()
    visitor.post("/signin", data={"user_id": "2"})
    visitor.get("/")
    assert 'data-testid="no-data"' in client.get("/experiment").get_data(as_text=True)
    app.extensions["funflix"].experiment_cache = None
    assert 'data-testid="no-data"' not in client.get("/experiment").get_data(as_text=True)


def test_home_page_reports_server_timing(actions, client):
    actions.signin(2)
    timing = client.get("/").headers["Server-Timing"]
    assert re.fullmatch(r"app;dur=[\d.]+, seldon;dur=[\d.]+", timing)
