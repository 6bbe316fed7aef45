import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from funflix.experiment import AnalysisConfig, analyze
from funflix.experiment.constants import NO_DATA, ONE_ARM_ONLY


def _strict_json(result) -> dict:
    text = json.dumps(result.to_dict(), allow_nan=False)  # raises on NaN or inf
    return json.loads(text)


def test_clear_winner_ships_on_the_sequential_test(impressions):
    result = analyze(impressions)
    assert [a.arm for a in result.arms] == ["control", "challenger"]
    assert result.verdict.decision == "ship" and result.verdict.arm == "challenger"
    assert "mSPRT" in result.verdict.rests_on
    c = result.comparison("challenger")
    assert c.user_level.difference == pytest.approx(c.z_test.difference)
    assert c.user_level.standard_error > c.z_test.standard_error  # users repeat: design effect > 1
    assert all(u.design_effect > 1 for u in result.user_level)
    assert c.sequential.ci[0] <= c.user_level.difference_ci[0]  # always-valid costs width
    assert c.bayesian.probability_challenger_better > 0.99
    assert not result.srm.mismatch and result.errors == ()
    data = _strict_json(result)
    assert data["verdict"]["decision"] == "ship" and len(data["timeline"]["times"]) <= 200


def test_aa_experiment_keeps_running(impressions_factory):
    result = analyze(impressions_factory(ctr=(0.07, 0.07), seed=8))
    assert result.verdict.decision == "keep running"
    planned = analyze(impressions_factory(ctr=(0.07, 0.07), seed=8), AnalysisConfig(planned_per_arm=1000))  # users per arm
    assert planned.verdict.decision == "inconclusive"


def test_harm_is_stopped(impressions_factory):
    result = analyze(impressions_factory(ctr=(0.09, 0.06), seed=9))
    assert result.verdict.decision == "stop: harm"


def test_sample_ratio_mismatch_is_reported(impressions_factory):
    df = impressions_factory(n=40_000, users=40_000, ctr=(0.07, 0.09), seed=10)
    drop = df.index[(df["arm"] == "challenger").to_numpy() & (np.arange(len(df)) % 12 == 0)]
    result = analyze(df.drop(drop))
    assert result.srm.mismatch and result.verdict.decision == "inconclusive"
    configured = analyze(df.drop(drop), AnalysisConfig(expected_split={"control": 0.52, "challenger": 0.48}))
    assert not configured.srm.mismatch
    stray = analyze(df, AnalysisConfig(expected_split={"control": 1.0}))
    assert stray.srm.mismatch and any("no configured share" in note for note in stray.notes)


def test_custom_control_and_three_arms_with_holm(impressions_factory):
    df = impressions_factory(n=30_000, users=6_000, ctr=(0.07, 0.075, 0.10), arms=("base", "b", "c"), seed=12)
    result = analyze(df, AnalysisConfig(control="base"))
    assert result.control == "base" and [c.arm for c in result.comparisons] == ["b", "c"]
    raw = [c.user_level.p_value for c in result.comparisons]
    assert [c.holm_p_value for c in result.comparisons] == pytest.approx(multipletests(raw, method="holm")[1])
    assert result.comparisons[0].sequential.threshold == pytest.approx(np.log(2 / 0.05))  # Bonferroni
    assert any("Holm" in note for note in result.notes)
    assert result.verdict.arm == "c" and result.verdict.decision == "ship"


def test_degenerate_inputs_are_clear_results(impressions_factory):
    df = impressions_factory(n=2000, users=500)
    empty = analyze(df.iloc[:0])
    assert empty.errors == (NO_DATA,) and empty.verdict.decision == "keep running"
    one_arm = analyze(df[df["arm"] == "control"])
    assert one_arm.errors == (ONE_ARM_ONLY,) and one_arm.verdict.decision == "inconclusive"
    only_challenger = analyze(df[df["arm"] == "challenger"])
    assert ONE_ARM_ONLY in only_challenger.errors and only_challenger.arms[0].impressions == 0
    assert "control arm 'control' has no impressions" in only_challenger.verdict.reason
    no_clicks = analyze(df.assign(clicked=0))
    assert no_clicks.verdict.decision == "keep running"
    assert no_clicks.comparison("challenger").z_test.p_value == 1.0
    challenger_silent = df.assign(clicked=np.where(df["arm"] == "challenger", 0, df["clicked"]))
    silent = analyze(challenger_silent)
    assert silent.comparison("challenger").user_level.relative_lift == -1.0
    tiny = analyze(df.iloc[:3])
    for result in (empty, one_arm, only_challenger, no_clicks, silent, tiny):
        _strict_json(result)


def test_fallback_rows_and_contract_violations(impressions_factory):
    df = impressions_factory(n=1000, users=100)
    with_fallback = pd.concat([df, df.head(50).assign(arm=None)])
    assert sum(a.impressions for a in analyze(with_fallback).arms) == 1000
    with pytest.raises(ValueError, match="missing column"):
        analyze(df.drop(columns=["clicked"]))
    with pytest.raises(ValueError, match="only 0 or 1"):
        analyze(df.assign(clicked=2))
    with pytest.raises(ValueError, match="created_at"):
        analyze(df.assign(created_at="yesterday"))
    with pytest.raises(ValueError, match="missing values"):
        analyze(df.assign(created_at=None))
    with pytest.raises(ValueError, match="unique"):
        analyze(pd.concat([df, df.head(3)]))
    with pytest.raises(ValueError, match="shares must be positive"):
        AnalysisConfig(expected_split={"control": 1.0, "challenger": 0.0})
    with pytest.raises(ValueError, match="decision rule"):
        AnalysisConfig(decision_rule="vibes")


@pytest.mark.parametrize("unit, planned", [("user", 1000), ("impression", 4000)])
def test_the_fixed_horizon_rule_needs_its_plan_and_reads_only_up_to_it(impressions_factory, unit, planned):
    with pytest.raises(ValueError, match="--planned-per-arm"):
        AnalysisConfig(decision_rule="fixed")
    early = impressions_factory(n=20_000, users=3_000, ctr=(0.06, 0.12), seed=21)
    cfg = AnalysisConfig(decision_rule="fixed", planned_per_arm=planned, randomisation_unit=unit)
    first = analyze(early, cfg)
    # later the challenger collapses: data after the horizon must not move a fixed-horizon answer
    later = impressions_factory(n=20_000, users=3_000, ctr=(0.10, 0.02), seed=22)
    later = later.assign(impression_id="late-" + later["impression_id"],
                         created_at=later["created_at"] + pd.Timedelta(days=10))
    second = analyze(pd.concat([early, later]), cfg)
    assert first.verdict == second.verdict and first.verdict.decision == "ship"
    fixed = first.comparison("challenger").fixed_horizon
    assert fixed == second.comparison("challenger").fixed_horizon
    assert second.comparison("challenger").user_level.difference < 0  # all the data says the opposite
    # the horizon is the first `planned` units of each arm by time
    control = early[early["arm"] == "control"].sort_values("created_at", kind="stable")
    firsts = control.drop_duplicates("user_id") if unit == "user" else control
    cut = control[control["created_at"] <= firsts["created_at"].iloc[planned - 1]]
    assert fixed.control_mean == pytest.approx(cut["clicked"].mean(), abs=1e-12)


def _visits(n_users=4000, visits=6, first_ctr=(0.14, 0.12), follow_ups=(6, 0), seed=30):
    """Sticky users in visits: each visit opens with a row clicked at ``first_ctr``; a click brings the
    user back to ``follow_ups`` more rows (never clicked) in the same visit, per arm."""
    rng = np.random.default_rng(seed)
    rows, t = [], pd.Timestamp("2026-11-01", tz="UTC")
    for visit in range(n_users * visits):
        user = int(rng.integers(n_users))
        arm = user % 2
        clicked = rng.random() < first_ctr[arm]
        for k in range(1 + (follow_ups[arm] if clicked else 0)):
            t += pd.Timedelta(seconds=1)
            rows.append((f"i{len(rows)}", user, ("control", "challenger")[arm], t, int(clicked and k == 0), f"v{visit}"))
    return pd.DataFrame(rows, columns=["impression_id", "user_id", "arm", "created_at", "clicked", "visit"])


def test_impressions_that_follow_clicks_cannot_ship_an_arm_that_loses_visits():
    # control wins visits (14% vs 12%) but each click brings 6 unclicked rows: its impression CTR sinks to ~7.6%
    df = _visits()
    result = analyze(df)
    c = result.comparison("challenger")
    assert c.user_level.difference > 0 and c.sequential.significant  # impression CTR alone would ship
    assert c.visit_level.difference < 0 and c.impressions_per_user.significant
    assert result.verdict.decision == "inconclusive"
    assert result.verdict.rests_on == "outcome-dependent impressions check"
    assert any("impressions depend on the outcome" in note for note in result.notes)
    clicked_visits = df[df["clicked"] == 1].groupby("arm")["visit"].nunique() / df.groupby("arm")["visit"].nunique()
    assert [u.visit_ctr for u in result.user_level] == pytest.approx(clicked_visits[["control", "challenger"]].tolist())
    # the same arms without follow-up rows: impressions per user agree and nothing is flagged
    plain = analyze(_visits(follow_ups=(0, 0), first_ctr=(0.10, 0.13)))
    assert not plain.comparison("challenger").impressions_per_user.significant
    assert plain.verdict.decision == "ship"
