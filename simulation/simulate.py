"""One simulation run end to end: calibrate the click model, drive the site, report per arm.

``simulate(mode="http" | "browser", sessions=N, site_url=...)`` is what ``funflix simulate`` and
``funflix demo`` call; the report holds the run's counts per arm beside the click model's expected
CTRs (for the lists actually shown, and for every simulated user under each arm's model).
"""

from __future__ import annotations

import logging

import requests

from funflix.simulation.click_model import BASELINE_CTR, ClickModel
from funflix.simulation.runner import run_sessions

log = logging.getLogger(__name__)

MODES = ("http", "browser")
DEFAULT_SITE_URL = "http://127.0.0.1:5000"
DEFAULT_WORKERS = {"http": 8, "browser": 2}


def check_site(site_url: str, timeout: float = 5.0) -> None:
    """ValueError naming the URL when the website does not answer its health check."""
    try:
        response = requests.get(site_url.rstrip("/") + "/healthz", timeout=timeout)
    except requests.RequestException as exc:
        raise ValueError(f"the website at {site_url} does not answer ({exc.__class__.__name__}); "
                         "start the local stack with `funflix up`") from None
    if response.status_code != 200:
        raise ValueError(f"the website at {site_url} is not healthy: /healthz answered {response.status_code}")


def make_visitor_factory(mode: str, site_url: str, model: ClickModel, browse_probability: float | None = None,
                         think: float = 0.0):
    """A zero-argument factory of visitors for ``mode`` (each browser worker gets its own Chromium)."""
    if mode == "http":
        from funflix.simulation.http_visitor import HttpVisitor

        visitor = HttpVisitor(site_url, model, **({} if browse_probability is None else {"browse_probability": browse_probability}))
        return lambda: visitor
    if mode == "browser":
        from funflix.simulation.browser import BrowserVisitor

        options = {"think": think, **({} if browse_probability is None else {"browse_probability": browse_probability})}
        return lambda: BrowserVisitor(site_url, model, **options)
    raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


def simulate(mode: str, sessions: int, site_url: str = DEFAULT_SITE_URL, workers: int | None = None, seed: int = 0,
             target_ctr: float = BASELINE_CTR, models_root=None, per_minute: float | None = None,
             browse_probability: float | None = None, think: float = 0.0, progress: bool = True,
             calibrated: tuple | None = None) -> dict:
    """Run ``sessions`` simulated visits in ``mode`` against the site; return the report (JSON-ready).

    ``calibrated`` reuses a ``(ClickModel, Calibration)`` pair from
    :func:`funflix.simulation.click_calibration.calibrated_click_model` (several runs, one calibration).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if sessions < 1:
        raise ValueError(f"--sessions must be >= 1, got {sessions}")
    workers = workers or DEFAULT_WORKERS[mode]
    check_site(site_url)
    if calibrated is None:
        from funflix.simulation.click_calibration import calibrated_click_model

        calibrated = calibrated_click_model(models_root, target=target_ctr)
    model, calibration = calibrated
    factory = make_visitor_factory(mode, site_url, model, browse_probability, think)
    result = run_sessions(factory, sessions, model.tastes.user_ids, seed=seed, workers=workers,
                          per_minute=per_minute, progress=progress, description=f"simulate ({mode})")
    return {"mode": mode, "site_url": site_url, "seed": seed, **result.to_dict(),
            "click_model": calibration.to_dict()}


def format_report(report: dict) -> str:
    """A plain-text summary of :func:`simulate`'s report."""
    lines = [f"{report['mode']} simulation of {report['site_url']}: {report['sessions']} sessions "
             f"({report['completed']} completed) in {report['seconds']:.1f} s with {report['workers']} workers "
             f"= {report['sessions_per_minute']:.0f} sessions/min" + (" (interrupted)" if report["interrupted"] else "")]
    lines.append(f"{'arm':<12}{'impressions':>12}{'clicks':>8}{'CTR':>8}{'expected':>10}{'model CTR':>11}")
    expected_all = report["click_model"]["expected_ctr"]
    for arm, tally in report["arms"].items():
        ctr = f"{tally['ctr']:.2%}" if tally["ctr"] is not None else "-"
        shown = f"{tally['expected_ctr']:.2%}" if tally["expected_ctr"] is not None else "-"
        overall = f"{expected_all[arm]:.2%}" if arm in expected_all else "-"
        lines.append(f"{arm:<12}{tally['impressions']:>12}{tally['clicks']:>8}{ctr:>8}{shown:>10}{overall:>11}")
    fallback = report["fallback"]
    if fallback["impressions"]:
        lines.append(f"fallback rows (in no arm): {fallback['impressions']} impressions, {fallback['clicks']} clicks")
    if report["errors"]:
        lines.append("errors: " + ", ".join(f"{kind} x{n}" for kind, n in sorted(report["errors"].items())))
        for kind, example in report["error_examples"].items():
            lines.append(f"  {kind}: {example}")
    else:
        lines.append("errors: none")
    model = report["click_model"]
    lift = ", ".join(f"{arm} {value:+.1%}" for arm, value in model["expected_lift"].items())
    lines.append(f"click model: calibrated so {model['baseline']} earns {model['target_ctr']:.1%} "
                 f"(intercept {model['intercept']:.3f}, patience {model['patience']}); expected lift {lift}")
    lines.append("'expected' = the click model's CTR for the rows shown in this run; "
                 "'model CTR' = over all simulated users under that arm's model")
    return "\n".join(lines)
