"""``/experiment``: the A/B test (or the interleaving experiment) read from the event store on each view.

The statistics are ``funflix.experiment``'s, configured by the same function as ``funflix analyze``
(the experiment section of the values file, ``EXPERIMENT_VALUES``, or ``EXPERIMENT_JSON`` when the
chart sets it), on the impressions of the site's own experiment: per-arm CTR with Wilson
intervals, lift with its interval (user-level delta method), the share of visits with a click, the
always-valid sequential test, the Bayesian probability to beat control, the sample-ratio check, the
verdict, and the cumulative CTR and lift plots (inline SVG). The sums are aggregated in the
database and the replay of the settled past is kept between views (``Site.analysis``). A missing or
broken experiment configuration is shown as such (503), never replaced by an equal split.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, render_template

from . import store
from .auth import site

bp = Blueprint("experiment", __name__)
log = logging.getLogger(__name__)


def compute(funflix) -> dict:
    """The page's context: the analysis of the site's own experiment (``funflix.experiment_id``; None:
    every impression), its plots, open rows, the outbox and its dead letters (or the config error).

    The statistics stack (scipy, matplotlib) is imported here, on the first view, so that site
    workers start in well under a second.
    """
    from funflix.experiment.configured import ExperimentConfigError, analysis_config
    from funflix.experiment.plots import ctr_over_time, cumulative_lift, figure_svg

    with funflix.engine.execution_options(readonly=True).connect() as conn:
        outbox = store.feedback_counts(conn)
        dead_letters, dead_lettered = store.dead_letters(conn), store.dead_lettered_count(conn)
        try:
            config = analysis_config(path=funflix.config["EXPERIMENT_VALUES"] or None,
                                     experiment=funflix.experiment_section)
        except ExperimentConfigError as exc:
            log.error("/experiment: %s", exc)
            return {"config_error": str(exc), "outbox": outbox, "dead_letters": dead_letters,
                    "dead_lettered": dead_lettered}
        result = funflix.analysis.analyze(conn, config, experiment_id=funflix.experiment_id)
    shown = sum(a.impressions for a in result.arms)
    plots = [figure_svg(ctr_over_time(result)), figure_svg(cumulative_lift(result))] if shown else []
    return {"result": result, "plots": plots, "open_rows": result.still_open, "outbox": outbox,
            "dead_letters": dead_letters, "dead_lettered": result.dead_lettered}


def compute_interleaving(funflix) -> dict:
    """The page's context for the interleaving design: the preference analysis and its figure."""
    from funflix.experiment.interleaving import analyze_interleaving
    from funflix.experiment.interleaving_report import sequential_figure
    from funflix.experiment.plots import figure_svg

    with funflix.engine.execution_options(readonly=True).connect() as conn:
        frame = store.read_interleaved(conn, funflix.experiment_id)
    result = analyze_interleaving(frame)
    return {"template": "experiment_interleaving.html", "result": result,
            "plots": [figure_svg(sequential_figure(result))] if len(frame) else [],
            "open_rows": int((frame["status"] == store.OPEN).sum())}


@bp.route("/experiment")
def experiment():
    """Recomputed at most every ``EXPERIMENT_CACHE_SECONDS``, for the site's experiment design."""
    funflix = site()
    ttl = funflix.config["EXPERIMENT_CACHE_SECONDS"]
    cached = funflix.experiment_cache
    if cached is None or time.monotonic() - cached[0] >= ttl:
        build = compute_interleaving if funflix.design == "interleaving" else compute
        cached = funflix.experiment_cache = (time.monotonic(), build(funflix))
    context = dict(cached[1])
    template = context.pop("template", "experiment.html")
    return render_template(template, **context), 503 if "config_error" in context else 200
