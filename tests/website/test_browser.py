"""End to end: headless Chromium on the real site, on the real local stack (Seldon components,
gateway, website under gunicorn): sign in, see k items, click one, land on the movie page; one
click recorded for the right arm, one reward-1 feedback credited by that arm's component, reward 0
for the rows left unclicked."""

import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from funflix.website import store

from .stack_helpers import arm_credits, stack_ports, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, quick_models_root):
    from funflix.serving.stack import LocalStack

    home = tmp_path_factory.mktemp("stack-home")
    local = LocalStack(home=home, models_root=quick_models_root, prometheus=False, model_workers=1,
                       **stack_ports())
    with local:
        yield local


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def test_sign_in_click_and_feedback_reach_the_serving_arm(stack, browser):
    from selenium.webdriver.common.by import By

    site = stack.website_url
    browser.get(f"{site}/signin?q=Comedy")
    browser.find_element(By.ID, "user-id").send_keys("42")
    browser.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    row = browser.find_element(By.CSS_SELECTOR, '[data-testid="rec-row"]')
    assert row.get_attribute("data-fallback") == "false"
    arm, impression_id = row.get_attribute("data-arm"), row.get_attribute("data-impression-id")
    items = row.find_elements(By.CSS_SELECTOR, '[data-testid="rec-item"]')
    assert len(items) == int(row.get_attribute("data-k")) == 10
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "website-home.png"))
    before = arm_credits(stack, arm)
    other = next(c.name for c in stack.arms if c.name != arm)
    other_before = arm_credits(stack, other)

    movie_id = items[2].get_attribute("data-movie-id")
    browser.execute_script("arguments[0].scrollIntoView({inline: 'center'});", items[2])
    items[2].click()
    wait_for(lambda: browser.current_url.endswith(f"/movie/{movie_id}"))
    assert browser.find_element(By.ID, "movie-detail").get_attribute("data-movie-id") == movie_id
    assert browser.find_element(By.ID, "movie-title").text
    browser.save_screenshot(str(ARTIFACTS / "website-movie.png"))

    frame = store.load_impressions(stack.database_url)
    assert frame[["impression_id", "user_id", "arm", "clicked", "clicked_item"]].values.tolist() == [
        [impression_id, 42, arm, 1, int(movie_id)]]
    engine = store.create_store_engine(stack.database_url)
    with engine.connect() as conn, conn.begin():
        clicks = conn.execute(sa.select(store.clicks.c.movie_id, store.clicks.c.counted)).all()
    assert [tuple(c) for c in clicks] == [(int(movie_id), True)]
    after = wait_for(lambda: arm_credits(stack, arm)[1] > before[1] and arm_credits(stack, arm))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)

    browser.back()  # a replayed click (browser back, click again) is not counted twice
    browser.find_element(By.CSS_SELECTOR, f'[data-testid="rec-item"][data-movie-id="{movie_id}"]').click()
    browser.get(f"{site}/")  # a new row for the same user
    browser.find_element(By.ID, "signout").click()  # ... left unclicked: reward 0 at sign-out
    final = wait_for(lambda: arm_credits(stack, arm)[0] >= after[0] + 1 and arm_credits(stack, arm))
    time.sleep(0.5)
    assert arm_credits(stack, arm) == final
    assert (final[0] - after[0], final[1] - after[1]) == (1, 0)
    assert arm_credits(stack, other) == other_before  # routing sent nothing to the other arm
    frame = store.load_impressions(stack.database_url)
    assert frame["clicked"].tolist() == [1, 0] and frame["feedback_state"].tolist() == ["sent", "sent"]
    engine.dispose()

    browser.get(f"{site}/experiment")
    summary = browser.find_element(By.CSS_SELECTOR, f'[data-testid="arm-summary"][data-arm="{arm}"]')
    assert (summary.get_attribute("data-impressions"), summary.get_attribute("data-clicks")) == ("2", "1")
    browser.save_screenshot(str(ARTIFACTS / "website-experiment.png"))


def test_new_visitor_cold_start_then_fallback_when_the_gateway_dies(stack, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{stack.website_url}/signin")
    browser.find_element(By.CSS_SELECTOR, '[data-testid="genre-choice"][value="Comedy"]').click()
    browser.save_screenshot(str(ARTIFACTS / "website-signin.png"))
    browser.find_element(By.ID, "new-visitor").click()
    row = browser.find_element(By.CSS_SELECTOR, '[data-testid="rec-row"]')
    assert (row.get_attribute("data-fallback"), row.get_attribute("data-strategy")) == ("false", "features")
    browser.set_window_size(390, 844)  # a phone
    browser.save_screenshot(str(ARTIFACTS / "website-home-phone.png"))
    browser.set_window_size(1280, 900)
    stack.kill("gateway")
    try:
        started = time.perf_counter()
        browser.get(f"{stack.website_url}/")
        elapsed = time.perf_counter() - started
        row = browser.find_element(By.CSS_SELECTOR, '[data-testid="rec-row"]')
        assert row.get_attribute("data-fallback") == "true" and row.get_attribute("data-arm") == ""
        assert browser.find_element(By.CSS_SELECTOR, '[data-testid="fallback-notice"]').is_displayed()
        assert elapsed < 3.0  # a refused connection: no waiting on the 0.5 s timeout per call
    finally:
        stack.restart("gateway")
