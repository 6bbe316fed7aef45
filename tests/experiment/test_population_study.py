"""The product-cadence A/A study: its running sums are the analysis's own, and the always-valid
test keeps its 5% in the small, heterogeneous experiments where the plain plug-in failed."""

import numpy as np
import pandas as pd
import pytest

from funflix.experiment.analysis import AnalysisConfig, analyze
from funflix.experiment.population_study import Population, aa_false_positive_rates, running_sums, simulate_streams
from funflix.experiment.sequential import SequentialConfig, sequential_log_likelihood_ratio
from funflix.experiment.replay import SUM_FIELDS, Replay

HEAVY = Population("Beta CTR, heavy-tailed activity", concentration=2.0, activity="heavy", mean_impressions=5.0)
ENGAGED = Population("Beta CTR 15%, heavy-tailed activity", ctr=0.15, concentration=1.0, activity="heavy",
                     mean_impressions=10.0)


def _frames(streams):
    """One impression frame per replication, in the event store's shape."""
    replication, user, challenger, clicked = streams.replication, streams.user, streams.challenger, streams.clicked
    frame = pd.DataFrame({"impression_id": np.arange(user.size), "user_id": user,
                          "arm": np.where(challenger, "challenger", "control"), "clicked": clicked.astype(int),
                          "created_at": pd.Timestamp("2026-01-01", tz="UTC")
                          + pd.to_timedelta(np.arange(user.size), unit="s"), "replication": replication})
    return [group.drop(columns="replication").reset_index(drop=True) for _, group in frame.groupby("replication")]


def _analysis_sums(frame, config=None):
    """The analysis's own running sums (its :class:`Replay`) after every impression of one replication,
    and the replay itself: per arm, the six fields, each an array over impressions."""
    replay = Replay(["control", "challenger"], "control", config or SequentialConfig())
    codes = (frame["arm"] == "challenger").to_numpy().astype(int)
    users, clicked = frame["user_id"].to_numpy(), frame["clicked"].to_numpy()
    rows = {"control": [], "challenger": []}
    for i in range(len(frame)):  # one impression at a time: the sums after each of them
        replay.feed(codes[i:i + 1], users[i:i + 1], clicked[i:i + 1], [float(i)])
        for arm, stat in replay.ratio_statistics().items():
            rows[arm].append([float(getattr(stat, f)) for f in SUM_FIELDS])
    return {arm: list(np.array(values).T) for arm, values in rows.items()}, replay


@pytest.mark.parametrize("population", [Population("flat"), HEAVY])
def test_running_sums_equal_the_analysis_replay(population):
    streams = simulate_streams(np.random.default_rng(11), 3, 40, population)
    ours = {"control": running_sums(streams, ~streams.challenger), "challenger": running_sums(streams, streams.challenger)}
    offset = 0
    for frame in _frames(streams):
        theirs, _ = _analysis_sums(frame)
        rows = slice(offset, offset + len(frame))
        for arm, sums in ours.items():
            for field, values, expected in zip(SUM_FIELDS, sums, theirs[arm]):
                np.testing.assert_array_equal(values[rows], expected, err_msg=f"{arm} {field}")
        offset += len(frame)


def test_the_study_counts_a_rejection_exactly_when_analyze_decides():
    """Replication by replication, the study's false positive is the analysis's ship or stop verdict."""
    config = SequentialConfig()
    streams = simulate_streams(np.random.default_rng(3), 60, 60, HEAVY)
    llr = sequential_log_likelihood_ratio(running_sums(streams, ~streams.challenger),
                                          running_sums(streams, streams.challenger), config)
    crossed = pd.Series(llr >= np.log(1 / config.alpha)).groupby(streams.replication).any().to_numpy()
    verdicts = [analyze(frame, AnalysisConfig()).comparison("challenger").sequential.significant
                for frame in _frames(streams)]
    assert verdicts == crossed.tolist()


def test_population_draws_have_the_asked_means():
    rng = np.random.default_rng(0)
    assert HEAVY.impressions(rng, 200_000).mean() == pytest.approx(5.0, rel=0.1)
    assert HEAVY.propensities(rng, 200_000).mean() == pytest.approx(0.07, rel=0.02)
    assert Population("p", activity="poisson", mean_impressions=5.0).impressions(rng, 100_000).mean() == \
        pytest.approx(5.0, rel=0.02)
    with pytest.raises(ValueError, match="activity"):
        Population("bad", activity="bursty")


def test_three_users_cannot_stop_an_experiment():
    """Six impressions of three users: control 4 clicks in 5 (two users), challenger 0 in 1 (one user).
    The plain plug-in variance of a one-user arm is 0, so main's test said 'stop: harm' here."""
    rows = [(1, 1), (2, 0), (1, 0), (3, 1), (1, 1), (1, 1)]
    frame = pd.DataFrame({"impression_id": range(len(rows)), "user_id": [u for u, _ in rows],
                          "arm": ["challenger" if u == 2 else "control" for u, _ in rows],
                          "clicked": [c for _, c in rows],
                          "created_at": pd.date_range("2026-01-01", periods=len(rows), freq="s", tz="UTC")})
    result = analyze(frame, AnalysisConfig(expected_split={"control": 0.5, "challenger": 0.5}))
    assert result.verdict.decision == "keep running"
    assert not result.comparison("challenger").sequential.significant
    sums, _ = _analysis_sums(frame)
    plain = sequential_log_likelihood_ratio(sums["control"], sums["challenger"], SequentialConfig(variance_floor=False))
    assert plain[-1] >= np.log(20)  # what main did: reject, and the verdict said 'stop: harm'
    _, unfloored = _analysis_sums(frame, SequentialConfig(variance_floor=False))
    assert unfloored.sequential()["challenger"].significant  # the replay honours the switch


def test_reduced_calibration_keeps_five_percent_where_the_plug_in_broke_it():
    """100 engaged users with heavy-tailed activity, read after every impression: the plain plug-in
    variance gave ~11% false positives at tau 0.3; the floored variance stays at or below 5%."""
    configs = {"floored": SequentialConfig(mixture_sd=0.3), "plug-in": SequentialConfig(mixture_sd=0.3, variance_floor=False),
               "floored, default tau": SequentialConfig()}
    cell = aa_false_positive_rates(np.random.default_rng(2026), 1500, 100, ENGAGED, configs)
    print({name: round(cell.rate(name), 4) for name in configs})
    assert cell.rate("floored") <= 0.05 and cell.rate("floored, default tau") <= 0.05
    assert cell.interval("plug-in")[0] > 0.05
