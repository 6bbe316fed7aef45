"""The analysis settings implied by the experiment's one source of truth (charts/funflix/values.yaml):
configured split, and routing mode -> randomisation unit (sticky: users; random: impressions;
thompson: adaptive, no sample-ratio check).

``funflix analyze`` and the website's ``/experiment`` page both build their
:class:`AnalysisConfig` here, so they read the same data the same way. A missing or broken
experiment configuration is an :class:`ExperimentConfigError`, never a silent equal split.
"""

from __future__ import annotations

import os
from pathlib import Path

from .analysis import AnalysisConfig


class ExperimentConfigError(ValueError):
    """The experiment configuration cannot be read: the message names the file and the problem."""


def experiment_settings(path: str | Path | None = None, experiment=None) -> tuple[dict[str, float], str]:
    """(split by arm, routing mode) from the ``experiment`` section of a values file (``path``,
    default the chart's), or from ``experiment``, an ``ExperimentConfig`` already parsed (the site's
    ``EXPERIMENT_JSON``), which wins."""
    from funflix.serving.experiment_config import EXPERIMENT_JSON_ENV, VALUES_FILE, load_experiment

    source = Path(path) if path else (EXPERIMENT_JSON_ENV if os.environ.get(EXPERIMENT_JSON_ENV) else VALUES_FILE)
    try:
        experiment = experiment or load_experiment(path or None)
    except FileNotFoundError:
        raise ExperimentConfigError(f"no experiment configuration at {source}: the analysis needs the "
                                    f"configured split and routing (give the values file that deployed "
                                    f"the experiment)") from None
    except (OSError, ValueError) as exc:
        raise ExperimentConfigError(f"the experiment configuration is unusable: {exc}") from None
    return {arm.name: arm.split for arm in experiment.arms}, experiment.routing


def analysis_config(split: dict[str, float] | None = None, path: str | Path | None = None,
                    experiment=None, **overrides) -> AnalysisConfig:
    """An :class:`AnalysisConfig` for the configured experiment (``experiment``, else the values file
    ``path``; see :func:`experiment_settings`); ``split`` and ``overrides`` win.

    Raises :class:`ExperimentConfigError` when the configuration is missing or broken.
    """
    configured, routing = experiment_settings(path, experiment)
    return AnalysisConfig(expected_split=split if split is not None else configured,
                          adaptive_routing=routing == "thompson",
                          randomisation_unit="impression" if routing == "random" else "user", **overrides)
