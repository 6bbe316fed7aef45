import re


from funflix.experiment import analyze
from funflix.experiment.plots import FIGURES, figure_svg
from funflix.experiment.report import render_html, write_report


def test_report_is_self_contained_with_all_figures(impressions, tmp_path):
    result = analyze(impressions)
    path = write_report(result, tmp_path / "out" / "report.html")
    text = path.read_text()
    assert text.count("<svg") == len(FIGURES) == 4
    assert not re.search(r"""(src|href)=["']?(http|//|file:)""", text)  # nothing fetched from elsewhere
    assert 'data-testid="verdict"' in text and "ship" in text and "mSPRT" in text
    for title in ("CTR per arm over time", "Cumulative relative lift", "Always-valid test", "Traffic split"):
        assert title in text


def test_every_figure_draws_on_empty_and_one_arm_results(impressions):
    for result in (analyze(impressions.iloc[:0]), analyze(impressions[impressions["arm"] == "control"]),
                   analyze(impressions.iloc[:5])):
        for make in FIGURES.values():
            assert figure_svg(make(result)).startswith("<svg")
        assert "keep running" in render_html(result) or "inconclusive" in render_html(result)
