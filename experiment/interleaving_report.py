"""How an interleaving analysis is shown: one-line summary lines (CLI), an HTML report, its figure."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from matplotlib.figure import Figure

from .interleaving import InterleavingResult
from .plots import figure_svg
from .report import templates


def summary_lines(result: InterleavingResult, challenger: str = "challenger") -> list[str]:
    """The CLI's plain-text summary."""
    u, o = result.users, result.outcomes
    x, s, q = result.ties_excluded, result.ties_split, result.sequential
    return [
        f"impressions {result.impressions:,} ({result.clicked_impressions:,} clicked); team clicks "
        + ", ".join(f"{team} {n:,}" for team, n in result.team_clicks.items()),
        f"per impression, {challenger}: wins {o['wins']:,}, losses {o['losses']:,}, ties {o['ties']:,}, "
        f"no click {o['no_clicks']:,}",
        f"users {u.users:,}: prefer {challenger} {u.prefer_challenger:,}, prefer control {u.prefer_control:,}, "
        f"tied {u.ties:,}, never clicked {u.no_click:,}",
        f"share preferring {challenger}, ties excluded: {x.share:.1%} [{x.ci[0]:.1%}, {x.ci[1]:.1%}] "
        f"(sign test p = {x.p_value:.3g}, {x.n:,} users)",
        f"share preferring {challenger}, ties split: {s.share:.1%} [{s.ci[0]:.1%}, {s.ci[1]:.1%}] "
        f"(z-test p = {s.p_value:.3g}, {s.n:,} users)",
        f"always-valid: share {0.5 + q.difference:.1%} [{0.5 + q.ci[0]:.1%}, {0.5 + q.ci[1]:.1%}], p = {q.p_value:.3g}",
        f"planned users for 90% power: {result.planned_users:,}" if result.planned_users else
        "planned users: not enough decisive users yet to plan from the observed preference",
        f"VERDICT: {result.verdict} -- rests on {result.rests_on}: {result.reason}",
    ]


def sequential_figure(result: InterleavingResult) -> Figure:
    """The always-valid interval for the share preferring the challenger, look by look."""
    figure = Figure(figsize=(7.5, 3.2))
    axes = figure.subplots()
    path = result.path
    looks = path.get("looks", ())
    if looks:
        share = [0.5 + d for d in path["difference"]]
        low = [max(0.0, 0.5 + c) for c in path["ci_lower"]]
        high = [min(1.0, 0.5 + c) for c in path["ci_upper"]]
        axes.fill_between(looks, low, high, alpha=0.25, label="always-valid interval")
        axes.plot(looks, share, label="share preferring the challenger (ties excluded)")
    axes.axhline(0.5, color="grey", linewidth=0.8)
    axes.set_ylim(0, 1)
    axes.set_xlabel("impressions")
    axes.set_title("Preference for the challenger over time")
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return figure


def render_interleaving_html(result: InterleavingResult, title: str = "Funflix interleaving report") -> str:
    """The report as one HTML string: the same Jinja macro as the site's /experiment page for this design
    (``templates/interleaving.html``)."""
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    plots = [figure_svg(sequential_figure(result))] if result.impressions else []
    return templates().get_template("interleaving_report.html").render(result=result, plots=plots, title=title,
                                                                       generated=generated)


def write_interleaving_report(result: InterleavingResult, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_interleaving_html(result), encoding="utf-8")
    return path
