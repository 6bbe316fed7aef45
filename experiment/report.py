"""A self-contained HTML report of one analysis (figures inline as SVG)."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

from .analysis import AnalysisResult
from .plots import figures_svg

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border-bottom:1px solid #ddd;padding:.3em .7em;text-align:right}
th:first-child,td:first-child{text-align:left}.verdict{font-size:1.4em;padding:.6em 1em;border-radius:6px;background:#eef}
.ship{background:#d8f3dc}.harm{background:#ffd6d6}.note{color:#555}figure{margin:1.5em 0}
"""


def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _bound(value: float, digits: int) -> str:
    if value == float("-inf"):
        return "&minus;&infin;"
    if value == float("inf"):
        return "&infin;"
    return f"{100 * value:+.{digits}f}"


def _ci(ci, unit: str = " pp", digits: int = 2) -> str:
    return f"[{_bound(ci[0], digits)}, {_bound(ci[1], digits)}]{unit}"


def _rows(cells: list[list[str]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in cells)


def render_html(result: AnalysisResult, title: str = "Funflix experiment report") -> str:
    """The report as one HTML string."""
    v = result.verdict
    css = "ship" if v.decision == "ship" else "harm" if v.decision == "stop: harm" else ""
    arms = _rows([[html.escape(a.arm), f"{a.impressions:,}", f"{a.clicks:,}", _pct(a.ctr),
                   f"{_pct(a.ci_lower)} &ndash; {_pct(a.ci_upper)}", _pct(a.share, 1)] for a in result.arms])
    users = _rows([[html.escape(u.arm), f"{u.users:,}", f"{u.impressions_per_user:.2f}", _pct(u.ctr),
                    _pct(u.standard_error, 3), f"{u.design_effect:.2f}"] for u in result.user_level])
    tests = []
    for c in result.comparisons:
        for r in (c.z_test, c.user_level) + ((c.cuped,) if c.cuped is not None else ()):
            tests.append([html.escape(f"{c.arm}: {r.test}"), _ci(r.difference_ci),
                          f"{100 * r.relative_lift:+.1f}%", _ci(r.relative_lift_ci, "%", 1),
                          f"{r.p_value:.3g}", "yes" if r.significant else "no"])
        s = c.sequential
        tests.append([html.escape(f"{c.arm}: {s.test}"), _ci(s.ci), "", "", f"{s.p_value:.3g}",
                      "yes" if s.significant else "no"])
    bayes = _rows([[html.escape(c.arm), f"{c.bayesian.probability_challenger_better:.1%}",
                    f"{c.bayesian.expected_loss_challenger:.5f}", f"{c.bayesian.expected_loss_control:.5f}"]
                   for c in result.comparisons])
    srm = result.srm
    figures = "".join(f"<figure>{svg}</figure>" for svg in figures_svg(result).values())
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in result.notes)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1><p class="note">Generated {generated}; control arm: {html.escape(result.control)};
alpha = {result.alpha}.</p>
<p class="verdict {css}" data-testid="verdict"><strong>{html.escape(v.decision)}</strong>
{html.escape(f"({v.arm})") if v.arm else ""} &mdash; rests on {html.escape(v.rests_on)}.<br>
<small>{html.escape(v.reason)}</small></p>{notes}
<h2>Arms</h2><table><tr><th>arm</th><th>impressions</th><th>clicks</th><th>CTR</th><th>95% Wilson</th><th>share</th></tr>{arms}</table>
<h2>Tests</h2><table><tr><th>test</th><th>difference</th><th>lift</th><th>lift interval</th><th>p</th><th>significant</th></tr>{_rows(tests)}</table>
<h2>User level (randomisation unit)</h2><table><tr><th>arm</th><th>users</th><th>impressions/user</th><th>CTR</th><th>SE (delta method)</th><th>design effect</th></tr>{users}</table>
<h2>Bayesian (Beta-Binomial on effective sample sizes)</h2><table><tr><th>challenger</th><th>P(better than control)</th><th>expected loss if shipped</th><th>expected loss if kept</th></tr>{bayes}</table>
<h2>Sample-ratio check</h2><p>Randomisation units observed {", ".join(f"{html.escape(a)} {o:,}" for a, o in zip(srm.arms, srm.observed))};
chi-square = {srm.statistic:.2f}, p = {srm.p_value:.3g} &rarr; <strong>{"MISMATCH" if srm.mismatch else "ok"}</strong>
(flag below {srm.threshold}).</p>
<h2>Over time</h2>{figures}
</body></html>
"""


def write_report(result: AnalysisResult, path: Path) -> Path:
    """Write the report to ``path`` (parents created) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result), encoding="utf-8")
    return path
