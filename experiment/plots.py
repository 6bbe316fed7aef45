"""Figures of an :class:`AnalysisResult` (matplotlib, Agg-safe: no pyplot state).

Each function returns a ``matplotlib.figure.Figure``; :func:`figure_svg` turns one into an
inline ``<svg>`` string for HTML (the report, the website's /experiment page).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .analysis import AnalysisResult

ARM_COLOURS = ("#8d99ae", "#e50914", "#00bbf9", "#ffb400", "#2a9d8f", "#6a4c93")


def _times(result: AnalysisResult):
    return pd.to_datetime(list(result.timeline.times), utc=True)


def _colour(result: AnalysisResult, arm: str) -> str:
    arms = [a.arm for a in result.arms]
    return ARM_COLOURS[arms.index(arm) % len(ARM_COLOURS)]


def _figure(title: str, ylabel: str) -> tuple[Figure, object]:
    figure = Figure(figsize=(8, 3.4), dpi=100)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=11)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    return figure, axes


def _finish(figure: Figure, axes, empty: bool) -> Figure:
    if empty:
        axes.text(0.5, 0.5, "no impressions yet", ha="center", va="center", transform=axes.transAxes)
    else:
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="best", frameon=False, fontsize=9)
        figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def ctr_over_time(result: AnalysisResult) -> Figure:
    """Cumulative CTR per arm with its 95% Wilson band."""
    figure, axes = _figure("CTR per arm over time (cumulative, Wilson interval)", "CTR")
    t = _times(result)
    for arm, n in result.timeline.impressions.items():
        n = np.asarray(n, dtype=float)
        ctr = np.divide(result.timeline.clicks[arm], n, out=np.zeros_like(n), where=n > 0)
        colour = _colour(result, arm)
        axes.plot(t, ctr, label=arm, color=colour, linewidth=2)
        axes.fill_between(t, result.timeline.ctr_lower[arm], result.timeline.ctr_upper[arm], color=colour,
                          alpha=0.2, linewidth=0)
    finals = [bounds[-1] for bounds in result.timeline.ctr_upper.values() if bounds]
    axes.set_ylim(0, min(1.0, 2.0 * max(finals)) if finals else 1.0)
    return _finish(figure, axes, len(t) == 0)


def cumulative_lift(result: AnalysisResult) -> Figure:
    """Relative lift of each challenger over control, cumulative."""
    figure, axes = _figure(f"Cumulative relative lift over {result.control}", "lift")
    t = _times(result)
    impressions, clicks = result.timeline.impressions, result.timeline.clicks
    if result.control in impressions:
        n0 = np.asarray(impressions[result.control], dtype=float)
        c0 = np.divide(clicks[result.control], n0, out=np.zeros_like(n0), where=n0 > 0)
        for arm in impressions:
            if arm == result.control:
                continue
            n1 = np.asarray(impressions[arm], dtype=float)
            c1 = np.divide(clicks[arm], n1, out=np.zeros_like(n1), where=n1 > 0)
            lift = np.where(c0 > 0, c1 / np.where(c0 > 0, c0, 1.0) - 1.0, np.nan)
            axes.plot(t, lift, label=arm, color=_colour(result, arm), linewidth=2)
    axes.axhline(0.0, color="black", linewidth=0.8)
    lines = [line.get_ydata() for line in axes.get_lines() if len(line.get_ydata()) > 1]
    if lines:
        late = np.concatenate([np.asarray(y, dtype=float)[len(y) // 4:] for y in lines])
        late = late[np.isfinite(late)]
        if late.size:
            spread = max(np.abs(late).max() * 2.0, 0.05)
            axes.set_ylim(-spread, spread)
    axes.yaxis.set_major_formatter(lambda v, _: f"{v:+.0%}")
    return _finish(figure, axes, len(t) == 0)


def sequential_path(result: AnalysisResult) -> Figure:
    """The mSPRT's always-valid confidence sequence for the CTR difference, and its p-value."""
    figure, axes = _figure("Always-valid test (mSPRT): CTR difference and confidence sequence",
                           "challenger - control")
    drawn, differences = False, []
    p_axes = axes.twinx()
    p_axes.set_yscale("log")
    p_axes.set_ylabel("always-valid p-value")
    for c in result.comparisons:
        path = result.timeline.sequential.get(c.arm)
        if path is None or not path.looks:
            continue
        drawn = True
        colour = _colour(result, c.arm)
        looks = np.asarray(path.looks)
        lower = np.clip(path.ci_lower, -1.0, 1.0)
        upper = np.clip(path.ci_upper, -1.0, 1.0)
        axes.plot(looks, path.difference, color=colour, linewidth=2, label=f"{c.arm}: difference")
        axes.fill_between(looks, lower, upper, color=colour, alpha=0.2, linewidth=0)
        p_axes.plot(looks, np.maximum(path.p_value, 1e-12), color=colour, linestyle=":", linewidth=1.5,
                    label=f"{c.arm}: p-value")
        p_axes.axhline(np.exp(-c.sequential.threshold), color="grey", linestyle="--", linewidth=0.8)
        differences.extend(path.difference[len(path.difference) // 4:])
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel("impressions")
    if differences:
        spread = max(abs(min(differences)), abs(max(differences)), 0.01) * 3.0
        axes.set_ylim(-spread, spread)
    if drawn:
        lines, labels = axes.get_legend_handles_labels()
        more, more_labels = p_axes.get_legend_handles_labels()
        axes.legend(lines + more, labels + more_labels, loc="upper right", frameon=False, fontsize=8)
    else:
        axes.text(0.5, 0.5, "no impressions in both arms yet", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    return figure


def traffic_split(result: AnalysisResult) -> Figure:
    """Each arm's cumulative share of impressions against its configured share."""
    figure, axes = _figure("Traffic split (cumulative share of impressions)", "share")
    t = _times(result)
    impressions = result.timeline.impressions
    if impressions:
        total = np.sum([np.asarray(v, dtype=float) for v in impressions.values()], axis=0)
        for arm, expected in zip(result.srm.arms, result.srm.expected_shares):
            if arm not in impressions:
                continue
            share = np.divide(impressions[arm], total, out=np.zeros_like(total), where=total > 0)
            colour = _colour(result, arm)
            axes.plot(t, share, color=colour, linewidth=2, label=f"{arm} (configured {expected:.0%})")
            axes.axhline(expected, color=colour, linestyle="--", linewidth=0.8)
    axes.set_ylim(0, 1)
    return _finish(figure, axes, len(t) == 0)


FIGURES = {
    "ctr_over_time": ctr_over_time,
    "cumulative_lift": cumulative_lift,
    "sequential_path": sequential_path,
    "traffic_split": traffic_split,
}


def figure_svg(figure: Figure) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


def figures_svg(result: AnalysisResult) -> dict[str, str]:
    """Every figure of the report as inline SVG, by name (for the website's /experiment page)."""
    return {name: figure_svg(make(result)) for name, make in FIGURES.items()}
