"""The Selenium bot: simulated users driving the real website in headless Chromium.

A visit: clear cookies, open the sign-in page (the last visit's sign-out left the browser there),
type the member id and press "Sign in"; look at the home page's "Recommended for you" row (read by
its data-* attributes); let the click model decide and click the chosen poster (the site's tracked
click link) or maybe open a movie from another row; go back; maybe browse the genres; sign out
(which closes an unclicked row with reward 0). Each worker reuses one browser for all its visits.
Chromium runs in its own process group, so Ctrl-C reaches only the bot, which lets running visits
finish and then quits the browsers."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import time
from urllib.parse import urljoin

from funflix.simulation.click_model import ClickModel
from funflix.simulation.runner import Visitor
from funflix.simulation.sessions import Row, SessionError, SessionOutcome, SessionPlan, decide_click

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--window-size=1280,900")

#: Reads the row in one round trip: attributes of the rec-row and of each rec-item, in position order.
READ_ROW = """
const row = document.querySelector('[data-testid="rec-row"]');
if (!row) return null;
const items = [...row.querySelectorAll('[data-testid="rec-item"]')]
  .map(a => [Number(a.dataset.position), Number(a.dataset.movieId), a.getAttribute('href')])
  .sort((x, y) => x[0] - y[0]);
const user = document.querySelector('[data-testid="signed-in-user"]');
return {id: row.dataset.impressionId, arm: row.dataset.arm, fallback: row.dataset.fallback,
        version: row.dataset.modelVersion, strategy: row.dataset.strategy, items: items,
        user: user ? Number(user.dataset.userId) : null};
"""

#: Closes the signed-in session without a page (used after a failed visit).
SIGN_OUT = "fetch('/signout', {method: 'POST', credentials: 'same-origin'}).finally(arguments[0]);"


def _kill_group(process) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass


def new_browser(page_load_timeout: float = 30.0, images: bool = False):
    """A headless Chromium (the DESIGN.md recipe: system binaries, no Selenium Manager, no network chatter)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    if not images:  # posters are decoration, not events; skipping them spares the site's CPU
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.images": 2})
    service = Service(executable_path=CHROMEDRIVER, popen_kw={"start_new_session": True})
    driver = webdriver.Chrome(service=service, options=options)
    # Safety net for a hard exit (a second Ctrl-C): the driver's process group holds its Chromium.
    atexit.register(_kill_group, service.process)
    driver.set_page_load_timeout(page_load_timeout)
    log.info("browser started: chromedriver pid %s, profile %s", service.process.pid,
             driver.capabilities.get("chrome", {}).get("userDataDir"))
    return driver


class BrowserVisitor(Visitor):
    """One worker's browser and the visits it makes.

    Parameters
    ----------
    site_url : the website's base URL.
    model : the calibrated click model.
    browse_probability : chance of each optional step: opening a movie from another row (users who
        did not click), visiting the genres page before leaving.
    think : seconds the user pauses on each page (session pacing; 0 for throughput runs).
    timeout : seconds to wait for a page.
    images : load poster images (off by default: they are not events).
    """

    def __init__(self, site_url: str, model: ClickModel, browse_probability: float = 0.5, think: float = 0.0,
                 timeout: float = 15.0, images: bool = False):
        if not 0 <= browse_probability <= 1:
            raise ValueError(f"browse_probability must be in [0, 1], got {browse_probability}")
        if think < 0:
            raise ValueError(f"think time must be >= 0, got {think}")
        self.site_url = site_url.rstrip("/") + "/"
        self.model = model
        self.browse_probability = browse_probability
        self.think = think
        self.timeout = timeout
        self.images = images
        self.driver = new_browser(timeout, images)

    def close(self) -> None:
        if self.driver is not None:
            pid = self.driver.service.process.pid
            try:
                self.driver.quit()
            except Exception as exc:  # the browser may already be gone (killed, crashed)
                log.debug("browser quit failed: %s", exc)
            self.driver = None
            log.info("browser closed: chromedriver pid %s", pid)

    # ---- page helpers
    def _wait(self, condition, stage: str, what: str):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, self.timeout, poll_frequency=0.02).until(condition)
        except TimeoutException:
            raise SessionError(f"{stage}:timeout", f"waited {self.timeout}s for {what} at {self.driver.current_url}") from None

    def _css(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def _present(self, selector: str, stage: str):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        return self._wait(ec.presence_of_element_located((By.CSS_SELECTOR, selector)), stage, selector)

    def _pause(self) -> None:
        if self.think:
            time.sleep(self.think)

    def _click(self, element) -> None:
        """Scroll the element into view and click it like a user (JS click if something covers it)."""
        from selenium.common.exceptions import ElementClickInterceptedException, ElementNotInteractableException

        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'});", element)
        try:
            element.click()
        except (ElementClickInterceptedException, ElementNotInteractableException):
            self.driver.execute_script("arguments[0].click();", element)

    def _read_row(self, user_id: int) -> Row:
        data = self.driver.execute_script(READ_ROW)
        if data is None:
            raise SessionError("home:no_row", f"no rec-row at {self.driver.current_url}")
        if data["user"] != user_id:
            raise SessionError("home:wrong_user", f"signed in as {data['user']}, expected {user_id}")
        if not data["items"]:
            raise SessionError("home:empty_row", "the rec-row has no items")
        fallback = data["fallback"] == "true"
        return Row(impression_id=data["id"], arm=None if fallback else (data["arm"] or None),
                   items=[int(m) for _, m, _ in data["items"]], hrefs=[h for _, _, h in data["items"]],
                   model_version=data["version"] or "", strategy=data["strategy"] or "")

    def _open_movie(self, selector: str, stage: str, rng) -> bool:
        """Click a random link matching ``selector`` and wait for its movie page; False if there is none."""
        from selenium.webdriver.common.by import By

        links = self.driver.find_elements(By.CSS_SELECTOR, selector)
        if not links:
            return False
        link = links[int(rng.integers(len(links)))]
        movie_id = link.get_attribute("data-movie-id")
        self._click(link)
        self._present(f'#movie-detail[data-movie-id="{movie_id}"]', stage)
        return True

    # ---- the visit
    def visit(self, plan: SessionPlan) -> SessionOutcome:
        """One visit by ``plan.user_id``; errors are reported in the outcome, never raised."""
        from selenium.common.exceptions import WebDriverException

        start = time.perf_counter()
        state = {"row": None, "clicked": None, "expected": float("nan"), "pages": 0, "extra": []}
        error = message = None
        try:
            if self.driver is None:
                self.driver = new_browser(self.timeout, self.images)
            self._visit(plan, state)
        except SessionError as exc:
            error, message = exc.kind, str(exc)
        except WebDriverException as exc:
            error, message = f"browser:{exc.__class__.__name__}", (exc.msg or str(exc)).splitlines()[0]
        if error is not None:
            self._recover(error)
        return SessionOutcome(plan.index, plan.user_id, row=state["row"], clicked=state["clicked"],
                              expected_ctr=state["expected"], pages=state["pages"], extra_impressions=state["extra"],
                              error=error, message=message, seconds=time.perf_counter() - start)

    def _visit(self, plan: SessionPlan, state: dict) -> None:
        driver, rng = self.driver, plan.rng
        driver.delete_all_cookies()
        signin = urljoin(self.site_url, "signin")
        if driver.current_url != signin:  # else the last visit's sign-out left the browser on the sign-in page
            driver.get(signin)
            state["pages"] += 1
        field = self._present("#signin-form #user-id", "signin")
        field.send_keys(str(plan.user_id))
        self._pause()
        self._click(self._css('#signin-form button[type="submit"]'))
        self._present('[data-testid="rec-row"]', "home")
        state["pages"] += 1
        row = state["row"] = self._read_row(plan.user_id)
        position, state["expected"] = decide_click(self.model, plan, row)
        self._pause()
        from_home = False
        if position is not None:
            link = self._css(f'[data-testid="rec-item"][data-position="{position}"]')
            self._click(link)
            self._present(f'#movie-detail[data-movie-id="{row.items[position]}"]', "click")
            state["clicked"] = position
            from_home = True
        elif rng.random() < self.browse_probability:
            from_home = self._open_movie('[data-testid="movie-card"]', "browse", rng)
        if from_home:
            state["pages"] += 1
            self._pause()
            driver.back()
            self._present('[data-testid="rec-row"]', "back")
            again = self._read_row(plan.user_id)
            if again.impression_id != row.impression_id:  # the page was rendered anew: a new impression
                state["extra"].append(again)
        if rng.random() < self.browse_probability:
            self._click(self._css('.site-nav a[href$="/genres"]'))
            self._present('a[href*="/genre/"]', "browse")
            state["pages"] += 1
            self._pause()
        self._click(self._css("#signout"))
        self._present("#signin-form", "signout")
        state["pages"] += 1

    def _recover(self, error: str) -> None:
        """After a failed visit: sign out if possible (so the row gets its reward 0); restart a dead browser."""
        from selenium.common.exceptions import JavascriptException, WebDriverException

        try:
            self.driver.set_script_timeout(self.timeout)
            self.driver.execute_async_script(SIGN_OUT)
        except JavascriptException:  # not on a site page: nothing to sign out of here
            pass
        except WebDriverException as exc:
            log.warning("browser unusable after %s (%s); starting a new one", error, exc.__class__.__name__)
            self.close()
