"""``/experiment``: per-arm impressions, clicks, CTR with Wilson intervals, lift, cumulative CTR.

Everything is recomputed from the event store's raw impressions on each view; the statistics
come from ``funflix.experiment``.
"""

from __future__ import annotations

import io

from flask import Blueprint, render_template

from funflix.experiment import summarize_counts

from . import store
from .auth import site

bp = Blueprint("experiment", __name__)

MAX_POINTS = 400
ARM_COLOURS = ("#8d99ae", "#e50914", "#00bbf9", "#ffb400")


def _ordered(counts: dict) -> dict:
    """Control first (the baseline of the lift), then the other arms by name."""
    return dict(sorted(counts.items(), key=lambda item: (item[0] != "control", item[0])))


def _lifts(summaries) -> list[dict]:
    if len(summaries) < 2 or summaries[0].ctr == 0:
        return []
    base = summaries[0]
    return [{"arm": s.arm, "baseline": base.arm, "difference": s.ctr - base.ctr, "lift": s.ctr / base.ctr - 1.0}
            for s in summaries[1:]]


def cumulative_ctr_svg(frame) -> str | None:
    """An inline SVG of each arm's cumulative CTR against time, or None with no impressions."""
    if frame.empty:
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2), dpi=100)
    axes = figure.add_subplot()
    for colour, (arm, rows) in zip(ARM_COLOURS * 4, sorted(frame.groupby("arm"), key=lambda x: (x[0] != "control", x[0]))):
        rows = rows.sort_values("created_at")
        ctr = rows["clicked"].cumsum().to_numpy() / range(1, len(rows) + 1)
        step = max(1, len(rows) // MAX_POINTS)
        axes.plot(rows["created_at"].to_numpy()[::step], ctr[::step], label=arm, color=colour, linewidth=2)
    axes.set_ylabel("cumulative CTR")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", frameon=False)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", transparent=True)
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


@bp.route("/experiment")
def experiment():
    funflix = site()
    with funflix.engine.execution_options(readonly=True).connect() as conn:
        counts = _ordered(store.arm_counts(conn))
        frame = store.read_impressions(conn)
        outbox = store.feedback_counts(conn)
    summaries = summarize_counts(counts) if counts else []
    return render_template("experiment.html", summaries=summaries, lifts=_lifts(summaries),
                           plot=cumulative_ctr_svg(frame), open_rows=int((frame["status"] == store.OPEN).sum()),
                           outbox=outbox)
