import re


from funflix.experiment import analyze
from funflix.experiment.plots import FIGURES
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
        text = render_html(result)
        assert text.count("<svg") == len(FIGURES)
        assert result.verdict.decision in ("keep running", "inconclusive") and result.verdict.decision in text


def test_three_arm_report(impressions_factory, tmp_path):
    from funflix.experiment import AnalysisConfig

    df = impressions_factory(n=6000, users=900, ctr=(0.07, 0.08, 0.1), arms=("base", "b", "c"), seed=4)
    text = render_html(analyze(df, AnalysisConfig(control="base")))
    assert text.count("<svg") == 4 and "Holm" in text and "c: mSPRT" in text
