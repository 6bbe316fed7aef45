"""``/experiment``: the A/B test read from the event store's raw impressions on each view.

The statistics are ``funflix.experiment``'s: per-arm CTR with Wilson intervals, lift with its
interval (user-level delta method), the always-valid sequential test, the Bayesian probability
to beat control, the sample-ratio check against the configured split, the verdict, and the
cumulative CTR and lift plots (inline SVG).
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, render_template

from . import store
from .auth import site

bp = Blueprint("experiment", __name__)
log = logging.getLogger(__name__)


def analysis_config():
    """The configured split and routing (charts/funflix/values.yaml), or equal shares without it."""
    from funflix.experiment.analysis import AnalysisConfig

    try:
        from funflix.serving.experiment_config import load_experiment

        experiment = load_experiment()
    except (ImportError, OSError, ValueError) as exc:
        log.warning("experiment config unavailable (%s): assuming equal split", exc)
        return AnalysisConfig()
    return AnalysisConfig(expected_split={arm.name: arm.split for arm in experiment.arms},
                          adaptive_routing=experiment.routing == "thompson")


def compute(engine, experiment_id: str | None = None) -> dict:
    """The page's context: the analysis of experiment ``experiment_id``'s impressions (None: every
    impression), its plots, open rows and the outbox.

    The statistics stack (scipy, matplotlib) is imported here, on the first view, so that site
    workers start in well under a second.
    """
    from funflix.experiment.analysis import analyze
    from funflix.experiment.plots import ctr_over_time, cumulative_lift, figure_svg

    with engine.execution_options(readonly=True).connect() as conn:
        frame = store.read_impressions(conn, experiment_id)
        outbox = store.feedback_counts(conn)
    result = analyze(frame, analysis_config())
    plots = [figure_svg(ctr_over_time(result)), figure_svg(cumulative_lift(result))] if len(frame) else []
    return {"result": result, "plots": plots, "open_rows": int((frame["status"] == store.OPEN).sum()),
            "outbox": outbox}


@bp.route("/experiment")
def experiment():
    """Recomputed at most every ``EXPERIMENT_CACHE_SECONDS`` (a 100k-row analysis takes a second)."""
    funflix = site()
    ttl = funflix.config["EXPERIMENT_CACHE_SECONDS"]
    cached = funflix.experiment_cache
    if cached is None or time.monotonic() - cached[0] >= ttl:
        cached = funflix.experiment_cache = (time.monotonic(), compute(funflix.engine, funflix.experiment_id))
    return render_template("experiment.html", **cached[1])
