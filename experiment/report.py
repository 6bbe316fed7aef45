"""A self-contained HTML report of one analysis (figures inline as SVG).

It is rendered by the same Jinja macro as the site's ``/experiment`` page
(``templates/analysis.html``), so the two never drift apart.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from .analysis import AnalysisResult
from .plots import figures_svg


def templates() -> Environment:
    """The analysis templates (``analysis.html`` holds the shared macro)."""
    environment = Environment(loader=PackageLoader("funflix.experiment"), autoescape=select_autoescape())
    environment.globals.update(inf=float("inf"))
    return environment


def render_html(result: AnalysisResult, title: str = "Funflix experiment report") -> str:
    """The report as one HTML string."""
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return templates().get_template("report.html").render(result=result, plots=list(figures_svg(result).values()),
                                                           title=title, generated=generated)


def write_report(result: AnalysisResult, path: Path) -> Path:
    """Write the report to ``path`` (parents created) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result), encoding="utf-8")
    return path
