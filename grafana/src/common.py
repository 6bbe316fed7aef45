"""Panel defaults shared by every area: the ``$datasource`` reference, queries, stat and time series."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (DataSourceRef, DynamicConfigValue, MatcherConfig, Threshold,
                                                      ThresholdsMode)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
Z_ONE_SIDED, Z_TWO_SIDED = 1.645, 1.96  # normal quantiles of the 5 % levels
ALWAYS_VALID_NOTE = (
    "A fixed-horizon z watched live inflates false positives: do not stop the test on it. The always-valid "
    "verdict (sequential test, confidence sequences, Bayesian probability to beat control, SRM check) is on "
    "the website's /experiment page and in `funflix analyze`, computed from the event store's raw events.")


def prometheus_query(expr: str, legend: str) -> prometheus.Dataquery:
    """A range query on ``$datasource``; ``legend`` may use ``{{label}}``."""
    return prometheus.Dataquery().expr(expr).legend_format(legend).datasource(DATASOURCE).range()


def thresholds(base: str, *steps: tuple[float, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first step, then each ``(value, colour)``."""
    return (dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE)
            .steps([Threshold(color=base)] + [Threshold(value=value, color=color) for value, color in steps]))


def threshold_lines() -> common_builder.GraphThresholdsStyleConfig:
    """Draw a time series panel's thresholds as dashed lines."""
    return common_builder.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)


def default_stat() -> stat.Panel:
    return (
        stat.Panel()
        .datasource(DATASOURCE)
        .height(4)
        .span(4)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.AREA)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .thresholds(thresholds("blue"))
    )


def default_timeseries() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .line_width(2)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .draw_style(common.GraphDrawStyle.LINE)
        .span_nulls(False)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .calcs(["lastNotNull", "max"])
            .show_legend(True)
        )
        .tooltip(common_builder.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                 .sort(common.SortOrder.DESCENDING))
    )


def dashed(panel: timeseries.Panel, names: Sequence[str]) -> timeseries.Panel:
    """Draw the named series as thin dashed reference lines."""
    for name in names:
        panel = panel.with_override(MatcherConfig(id_val="byName", options=name), [
            DynamicConfigValue(id_val="custom.lineStyle", value={"dash": [10, 10], "fill": "dash"}),
            DynamicConfigValue(id_val="custom.lineWidth", value=1),
            DynamicConfigValue(id_val="custom.fillOpacity", value=0)])
    return panel
