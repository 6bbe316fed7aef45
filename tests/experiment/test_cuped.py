import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from funflix.experiment import AnalysisConfig, analyze
from funflix.experiment.constants import NO_DATA
from funflix.experiment.cuped import CupedTest, per_user_frame
from funflix.experiment.statistics import RatioStatistic
from funflix.experiment.user_level import DeltaMethodTest


def _one_impression_per_user(rng, n, effect=0.01, slope=0.03):
    covariate = rng.normal(0, 1, n)
    arm = np.where(rng.random(n) < 0.5, "control", "challenger")
    p = np.clip(0.07 + slope * covariate + effect * (arm == "challenger"), 0, 1)
    df = pd.DataFrame({"impression_id": np.arange(n), "user_id": np.arange(n), "arm": arm,
                       "created_at": pd.Timestamp("2026-11-01", tz="UTC"), "clicked": (rng.random(n) < p).astype(int)})
    return df, pd.DataFrame({"user_id": np.arange(n), "covariate": covariate})


def test_one_impression_per_user_is_ancova():
    rng = np.random.default_rng(1)
    for _ in range(20):
        df, cov = _one_impression_per_user(rng, int(rng.integers(500, 5000)))
        result, summary = CupedTest(per_user_frame(df, cov), "control", "challenger").compute()
        treat = (df["arm"] == "challenger").to_numpy(float)
        fit = sm.OLS(df["clicked"].to_numpy(float), sm.add_constant(np.column_stack([treat, cov["covariate"]]))
                     ).fit(cov_type="HC0")
        assert result.difference == pytest.approx(fit.params[1], rel=1e-9, abs=1e-12)
        assert result.standard_error == pytest.approx(fit.bse[1], rel=0.02)
        assert summary.coverage == 1.0


def _repeat_users(rng, users=3000, effect=0.0):
    """Users with a taste for clicking; the covariate is their click rate in a pre-period."""
    propensity = np.clip(rng.gamma(1.0, 0.07, users), 0, 1)
    pre = rng.binomial(100, propensity) / 100
    arm = np.where(rng.random(users) < 0.5, "control", "challenger")
    count = 1 + rng.poisson(9, users)
    p = np.clip(propensity * np.where(arm == "challenger", 1 + effect, 1.0), 0, 1)
    clicks = rng.binomial(count, p)
    rows = np.repeat(np.arange(users), count)
    position = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)  # index within the user
    clicked = (position < np.repeat(clicks, count)).astype(int)
    df = pd.DataFrame({"impression_id": np.arange(len(rows)), "user_id": rows, "arm": arm[rows],
                       "created_at": pd.Timestamp("2026-11-01", tz="UTC"), "clicked": clicked})
    return df, pd.DataFrame({"user_id": np.arange(users), "covariate": pre})


def _users_frame(rng, users=3000):
    """Per-user rows as :func:`per_user_frame` builds them, straight from the generator (fast)."""
    propensity = np.clip(rng.gamma(1.0, 0.07, users), 0, 1)
    arm = np.where(rng.random(users) < 0.5, "control", "challenger")
    y = 1.0 + rng.poisson(9, users)
    return pd.DataFrame({"arm": arm, "user_id": np.arange(users), "x": rng.binomial(y.astype(int), propensity),
                         "y": y, "covariate": rng.binomial(100, propensity) / 100, "has_covariate": True})


def test_pre_period_covariate_cuts_variance_without_bias():
    rng = np.random.default_rng(2)
    plain, adjusted, reductions = [], [], []
    for _ in range(300):
        users = _users_frame(rng)
        stats = {arm: RatioStatistic(len(g), g["x"].sum(), (g["x"] ** 2).sum(), g["y"].sum(), (g["y"] ** 2).sum(),
                                     (g["x"] * g["y"]).sum()) for arm, g in users.groupby("arm")}
        plain.append(DeltaMethodTest(stats["control"], stats["challenger"]).compute_result().difference)
        result, summary = CupedTest(users, "control", "challenger").compute()
        adjusted.append(result)
        reductions.append(summary.variance_reduction)
    estimates = np.array([r.difference for r in adjusted])
    assert abs(estimates.mean()) < 3 * estimates.std() / np.sqrt(len(estimates))  # A/A: centred on zero
    assert estimates.var() < 0.75 * np.var(plain)  # the covariate explains much of the user-level noise
    assert np.mean(reductions) == pytest.approx(1 - estimates.var() / np.var(plain), abs=0.1)
    # and its standard errors are honest: about 5% of A/A runs are significant
    assert np.mean([r.significant for r in adjusted]) < 0.1
    assert np.mean([r.standard_error for r in adjusted]) == pytest.approx(estimates.std(), rel=0.15)


def test_analyze_with_covariates_uses_cuped_as_the_fixed_test():
    df, cov = _repeat_users(np.random.default_rng(3), effect=0.3)
    result = analyze(df, AnalysisConfig(decision_rule="fixed", planned_per_arm=1000), covariates=cov.iloc[:2500])
    c = result.comparison("challenger")
    assert c.cuped is not None and c.cuped_summary.coverage == pytest.approx(2500 / 3000, abs=0.01)
    assert c.cuped.standard_error < c.user_level.standard_error
    assert result.verdict.rests_on == "CUPED user-level z-test" and result.verdict.decision == "ship"
    assert analyze(df).comparison("challenger").cuped is None


def test_bad_or_degenerate_covariates():
    df, cov = _repeat_users(np.random.default_rng(4), users=200)
    with pytest.raises(ValueError, match="columns"):
        per_user_frame(df, cov.rename(columns={"covariate": "x"}))
    with pytest.raises(ValueError, match="finite"):
        per_user_frame(df, cov.assign(covariate="high"))
    with pytest.raises(ValueError, match="one row per user"):
        per_user_frame(df, pd.concat([cov, cov.head(1)]))
    none_known = per_user_frame(df, cov.assign(user_id=cov["user_id"] + 10_000))
    result, summary = CupedTest(none_known, "control", "challenger").compute()
    assert summary.coverage == 0.0 and summary.theta == 0.0 and summary.variance_reduction == 0.0
    result, summary = CupedTest(per_user_frame(df, cov), "control", "nobody").compute()
    assert result.errors == (NO_DATA,) and result.p_value == 1.0


def test_cli_covariates(tmp_path, capsys):
    from funflix.cli import main

    df, cov = _repeat_users(np.random.default_rng(5), effect=0.3)
    df.to_csv(tmp_path / "imp.csv", index=False)
    cov.to_csv(tmp_path / "cov.csv", index=False)
    assert main(["analyze", "--csv", str(tmp_path / "imp.csv"), "--covariates", str(tmp_path / "cov.csv"),
                 "--report", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert "CUPED: difference" in out and "CUPED user-level z-test" in (tmp_path / "r.html").read_text()
    assert main(["analyze", "--csv", str(tmp_path / "imp.csv"), "--covariates", str(tmp_path / "imp.csv")]) == 2
    assert "covariates need columns" in capsys.readouterr().err
