"""Fixtures of the simulation tests: tastes of the real MovieLens users, the quick-trained arms and a
click model calibrated on them (once per session)."""

from __future__ import annotations

import pytest

from funflix.simulation.click_calibration import calibrate, load_arms
from funflix.simulation.tastes import Tastes


@pytest.fixture(scope="session")
def tastes(prepared) -> Tastes:
    return Tastes.from_split(prepared.split, prepared.movies)


@pytest.fixture(scope="session")
def arms(quick_models_root) -> dict:
    """The two arms' recommenders, by arm name."""
    return load_arms(quick_models_root, {"control": "control", "challenger": "challenger"})


@pytest.fixture(scope="session")
def calibrated(tastes, arms):
    """``(ClickModel, Calibration)``: calibrated so the control arm's lists earn 7%."""
    return calibrate(tastes, arms)
