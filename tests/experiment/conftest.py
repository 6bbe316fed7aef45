import numpy as np
import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def funflix_home(tmp_path, monkeypatch):
    """Every test writes build outputs under a temporary FUNFLIX_HOME, never ./var."""
    home = tmp_path / "home"
    monkeypatch.setenv("FUNFLIX_HOME", str(home))
    return home


def make_impressions(n=20_000, ctr=(0.07, 0.09), users=3_000, arms=("control", "challenger"),
                     heterogeneity=4.0, seed=0, days=3.0) -> pd.DataFrame:
    """Synthetic event-store rows: users assigned to arms by id (sticky), each with a
    gamma-distributed click propensity (so a user's clicks are correlated), times over ``days``."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, n)
    arm_index = user % len(arms)
    propensity = rng.gamma(heterogeneity, 1.0 / heterogeneity, users)[user]
    p = np.clip(np.asarray(ctr)[arm_index] * propensity, 0.0, 1.0)
    created = pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(np.sort(rng.random(n)) * days, unit="D")
    return pd.DataFrame({
        "impression_id": [f"i{k}" for k in range(n)],
        "user_id": user,
        "arm": np.asarray(arms)[arm_index],
        "created_at": created,
        "clicked": (rng.random(n) < p).astype(int),
    })


@pytest.fixture
def impressions_factory():
    """``make_impressions(**kwargs)``: synthetic event-store rows."""
    return make_impressions


@pytest.fixture
def impressions():
    return make_impressions()
