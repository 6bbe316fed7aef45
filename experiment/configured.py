"""The analysis settings implied by the experiment's one source of truth (charts/funflix/values.yaml):
configured split, and routing mode -> randomisation unit (sticky: users; random: impressions;
thompson: adaptive, no sample-ratio check)."""

from __future__ import annotations

import logging

from .analysis import AnalysisConfig

log = logging.getLogger(__name__)


def experiment_settings(path=None) -> tuple[dict[str, float] | None, str]:
    """(split by arm, routing mode) from the experiment config (``path``: a values file, default
    the chart's); (None, "sticky") without one."""
    try:
        from funflix.serving.experiment_config import load_experiment

        experiment = load_experiment(path)
    except (ImportError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.info("no experiment config (%s); assuming sticky routing and an equal split", exc)
        return None, "sticky"
    return {arm.name: arm.split for arm in experiment.arms}, experiment.routing


def analysis_config(split: dict[str, float] | None = None, path=None, **overrides) -> AnalysisConfig:
    """An :class:`AnalysisConfig` for the configured experiment; ``split`` and ``overrides`` win."""
    configured, routing = experiment_settings(path)
    return AnalysisConfig(expected_split=split if split is not None else configured,
                          adaptive_routing=routing == "thompson",
                          randomisation_unit="impression" if routing == "random" else "user", **overrides)
