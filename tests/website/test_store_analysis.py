"""The analysis aggregated in the event store (SQLite and a real PostgreSQL) equals the analysis of
the same rows loaded into pandas, and a kept StoreAnalysis extends its replay look after look."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from funflix.experiment.analysis import AnalysisConfig, analyze
from funflix.experiment.store_analysis import StoreAnalysis
from funflix.website import store

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def add_rows(engine, first, count, seed, deliver=True, experiment_id=None):
    """``count`` impressions from ``first`` on (one a minute); users revisit, and a click brings the
    user back to a new row of the same visit, as on the site."""
    rng = np.random.default_rng(seed)
    with engine.connect() as conn:
        k = first
        while k < first + count:
            user = int(rng.integers(300))
            arm = "control" if user % 3 else "challenger"
            visit = f"v-{k}"
            while k < first + count:
                now = START + timedelta(minutes=k)
                store.record_impression(conn, impression_id=f"imp-{k:06d}", user_id=user, items=[1, 2, 3],
                                        arm=arm, visit=visit, request={}, response={}, now=now,
                                        experiment_id=experiment_id)
                k += 1
                if rng.random() >= (0.08 if arm == "control" else 0.15):
                    break
                store.record_click(conn, f"imp-{k - 1:06d}", user, 2, now=now + timedelta(seconds=20))
        if deliver:  # what the housekeeper does: close rows past their lifetime, post the feedback
            store.close_stale_impressions(conn, timedelta(minutes=100), now=START + timedelta(minutes=k))
            while jobs := store.claim_feedback(conn, limit=500):
                for job in jobs:
                    store.mark_feedback_sent(conn, job)


@pytest.mark.parametrize("config", [AnalysisConfig(), AnalysisConfig(decision_rule="fixed", planned_per_arm=60),
                                    AnalysisConfig(randomisation_unit="impression", planned_per_arm=500)],
                         ids=["sequential", "fixed-users", "impressions"])
def test_the_store_analysis_equals_the_pandas_analysis(db_url, config):
    engine = store.create_store_engine(db_url)
    store.migrate(engine)
    add_rows(engine, 0, 1500, seed=1, deliver=False)
    try:
        with engine.connect() as conn:
            aggregated = StoreAnalysis().analyze(conn, config)
        loaded = analyze(store.load_impressions(db_url), config)
    finally:
        engine.dispose()
    assert aggregated.to_dict(include_timeline=False) == loaded.to_dict(include_timeline=False)
    assert aggregated.timeline.impressions == loaded.timeline.impressions
    assert aggregated.timeline.sequential == loaded.timeline.sequential
    c = aggregated.comparison("challenger")
    assert c.visit_level.errors == () and all(u.visits < u.users * u.impressions_per_user
                                              for u in aggregated.user_level)  # a clicked visit holds more rows
    assert (c.fixed_horizon is not None) == (config.planned_per_arm is not None)


def test_dead_lettered_rows_are_left_out_of_both_analyses_and_counted(db_url):
    engine = store.create_store_engine(db_url)
    store.migrate(engine)
    add_rows(engine, 0, 600, seed=4, deliver=False)
    try:
        with engine.connect() as conn:
            store.close_stale_impressions(conn, timedelta(minutes=100), now=START + timedelta(minutes=600))
            jobs = store.claim_feedback(conn, limit=1000)
            for job in jobs[:25]:  # Seldon refused these for good
                assert store.mark_feedback_dead(conn, job, "answered 400: refused")
            for job in jobs[25:]:
                assert store.mark_feedback_sent(conn, job)
            aggregated = StoreAnalysis().analyze(conn, AnalysisConfig())
            assert store.dead_lettered_count(conn) == 25
        loaded = analyze(store.load_impressions(db_url), AnalysisConfig())
    finally:
        engine.dispose()
    assert aggregated.to_dict(include_timeline=False) == loaded.to_dict(include_timeline=False)
    assert aggregated.dead_lettered == loaded.dead_lettered == 25
    assert sum(a.impressions for a in aggregated.arms) == 600 - 25  # open rows too (not clicked yet)
    assert any("25 impressions left out" in note for note in aggregated.notes)
    assert aggregated.timeline.impressions == loaded.timeline.impressions


def test_looks_extend_the_kept_replay(db_url):
    engine = store.create_store_engine(db_url)
    store.migrate(engine)
    analysis = StoreAnalysis()
    try:
        add_rows(engine, 0, 800, seed=2)
        with engine.connect() as conn:
            first = analysis.analyze(conn, AnalysisConfig())
        kept = analysis._replay
        assert kept.rows > 600  # settled: closed, feedback delivered (the last 100 minutes may change)
        add_rows(engine, 800, 700, seed=3)
        with engine.connect() as conn:
            second = analysis.analyze(conn, AnalysisConfig())
            fresh = StoreAnalysis().analyze(conn, AnalysisConfig())
        assert analysis._replay is kept and kept.rows >= 1400  # extended, not rebuilt
        assert second.to_dict() == fresh.to_dict()
        assert sum(a.impressions for a in second.arms) == 1500 > sum(a.impressions for a in first.arms)
    finally:
        engine.dispose()


def test_the_store_analysis_floors_the_sequential_variance_too(db_url):
    """claims' three-user case read from the event store: control 4 clicks in 5 impressions (two
    users), challenger 0 in 1 (one user). The streamed replay floors each arm's variance as the
    pandas path does, so the store says 'keep running' too; unfloored it would stop for harm."""
    from funflix.experiment.replay import Replay
    from funflix.experiment.sequential import SequentialConfig

    rows = [(1, 1), (2, 0), (1, 0), (3, 1), (1, 1), (1, 1)]
    engine = store.create_store_engine(db_url)
    store.migrate(engine)
    try:
        with engine.connect() as conn:
            for k, (user, clicked) in enumerate(rows):
                now = START + timedelta(minutes=k)
                store.record_impression(conn, impression_id=f"imp-{k}", user_id=user, items=[1, 2, 3],
                                        arm="challenger" if user == 2 else "control", visit=f"v-{k}", now=now)
                if clicked:
                    store.record_click(conn, f"imp-{k}", user, 2, now=now + timedelta(seconds=5))
            config = AnalysisConfig(expected_split={"control": 0.5, "challenger": 0.5})
            aggregated = StoreAnalysis().analyze(conn, config)
        loaded = analyze(store.load_impressions(db_url), config)
    finally:
        engine.dispose()
    assert aggregated.verdict.decision == loaded.verdict.decision == "keep running"
    assert aggregated.comparison("challenger").sequential == loaded.comparison("challenger").sequential
    assert not aggregated.comparison("challenger").sequential.significant
    plain = Replay(["control", "challenger"], "control", SequentialConfig(variance_floor=False))
    plain.feed([1 if user == 2 else 0 for user, _ in rows], [user for user, _ in rows], [c for _, c in rows],
               np.arange(len(rows), dtype=float))
    assert plain.sequential()["challenger"].significant  # the plain plug-in: 'stop: harm' after six rows


@pytest.mark.parametrize("config", [AnalysisConfig(), AnalysisConfig(decision_rule="fixed", planned_per_arm=40)],
                         ids=["sequential", "fixed-users"])
def test_the_store_analysis_reads_one_experiment(db_url, config):
    """Two experiments in one store: the aggregation of each (migration 5's experiment filter inside the
    SQL) equals the pandas analysis of that experiment's rows alone; a kept analysis switching
    experiment starts its replay over."""
    engine = store.create_store_engine(db_url)
    store.migrate(engine)
    add_rows(engine, 0, 900, seed=1, experiment_id="exp-a")
    add_rows(engine, 900, 600, seed=4, deliver=False, experiment_id="exp-b")
    kept = StoreAnalysis()
    try:
        with engine.connect() as conn:
            for experiment_id, rows in (("exp-a", 900), ("exp-b", 600), ("exp-a", 900)):
                aggregated = StoreAnalysis().analyze(conn, config, experiment_id=experiment_id)
                loaded = analyze(store.read_impressions(conn, experiment_id), config)
                assert aggregated.to_dict(include_timeline=False) == loaded.to_dict(include_timeline=False)
                assert aggregated.timeline.sequential == loaded.timeline.sequential
                assert sum(a.impressions for a in aggregated.arms) == rows
                assert kept.analyze(conn, config, experiment_id=experiment_id).to_dict() == aggregated.to_dict()
            assert sum(a.impressions for a in StoreAnalysis().analyze(conn, config).arms) == 1500
    finally:
        engine.dispose()
