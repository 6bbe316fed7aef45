"""The watch's analysis across a ramp: the users who never changed arm, with their own expected split.

Simulated sticky traffic through a 50 -> 75 -> 100 ramp of an A/A test (both arms the same CTR): pooling
every impression mixes users who moved and skews the user counts away from any one split (a false
sample-ratio alarm); the stable-user population keeps the randomised comparison and passes the check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from funflix.experiment.analysis import AnalysisConfig, analyze
from funflix.k8s.operations import Deployed
from funflix.k8s.ramp import child_for_point, user_point
from funflix.k8s.watch import analysed_frame

ARMS = ("control", "challenger")
RAMP = [(0.5, 0.5), (0.25, 0.75)]
SALT = "ramp-test"


def sticky_traffic(history, users=6000, per_step=12_000, ctr=0.08, seed=3) -> pd.DataFrame:
    """Impressions of random users, routed as the sticky router routes them under each split in turn."""
    rng = np.random.default_rng(seed)
    rows, start = [], pd.Timestamp("2026-12-01", tz="UTC")
    for step, split in enumerate(history):
        for k, user in enumerate(rng.integers(0, users, per_step)):
            arm = ARMS[child_for_point(list(split), user_point(SALT, int(user)))]
            rows.append((f"{step}-{k}", int(user), arm, start + pd.Timedelta(seconds=step * 3600 + k / 10),
                         int(rng.random() < ctr)))
    return pd.DataFrame(rows, columns=["impression_id", "user_id", "arm", "created_at", "clicked"])


def now(history, mode="sticky", changed_at=0.0) -> Deployed:
    return Deployed("funflix", "r-ab-router", mode, SALT, ARMS, history[-1], history=tuple(history),
                    changed_at=changed_at)


def test_only_users_whose_arm_never_changed_are_analysed():
    frame = sticky_traffic(RAMP)
    kept, expected = analysed_frame(frame, now(RAMP))
    assert expected == {"control": 0.25, "challenger": 0.5}
    assert all(user_point(SALT, u) < 0.25 or user_point(SALT, u) >= 0.5 for u in kept["user_id"])
    moved = frame[~frame["impression_id"].isin(kept["impression_id"])]
    assert moved.groupby("user_id")["arm"].nunique().max() == 2  # the left-out users saw both arms
    assert set(moved["user_id"]).isdisjoint(kept["user_id"])


def test_an_a_a_ramp_passes_the_sample_ratio_check_on_stable_users_and_not_pooled():
    frame = sticky_traffic(RAMP)
    kept, expected = analysed_frame(frame, now(RAMP))
    stable = analyze(kept, AnalysisConfig(expected_split=expected))
    assert not stable.srm.mismatch and stable.verdict.decision == "keep running"
    pooled = analyze(frame, AnalysisConfig(expected_split=dict(zip(ARMS, RAMP[-1]))))
    assert pooled.srm.mismatch  # every user counted in every arm they saw, against the latest split


def test_per_request_routing_is_analysed_per_step():
    frame = sticky_traffic(RAMP)
    changed = frame["created_at"].iloc[len(frame) // 2].timestamp()
    kept, expected = analysed_frame(frame, now(RAMP, mode="random", changed_at=changed))
    assert expected == {"control": 0.25, "challenger": 0.75}
    assert kept["created_at"].min().timestamp() >= changed and len(kept) == len(frame) // 2


def test_the_verdict_is_read_from_the_stores_current_experiment(tmp_path):
    """A real (SQLite) event store: the experiment registered for the router's salt, impressions of users
    routed at 50/50 and clicked at 5% and 15%; a store whose experiment has another salt is not read."""
    import uuid
    from datetime import timedelta

    from funflix.k8s.watch import read_verdict
    from funflix.serving.experiment_config import parse_experiment
    from funflix.website import store
    from funflix.website.experiments import register_experiment

    url = f"sqlite:///{tmp_path}/events.db"
    engine = store.create_store_engine(url)
    store.migrate(engine)
    config = parse_experiment({"name": "ab", "salt": SALT, "routing": "sticky", "arms": [
        {"name": arm, "model": arm, "version": "v1", "split": 0.5} for arm in ARMS]})
    with engine.connect() as conn:
        experiment = register_experiment(conn, config, models_root=tmp_path)
    rng, start, rows = np.random.default_rng(5), store.utcnow() - timedelta(hours=1), []
    for user in range(2000):
        arm = ARMS[child_for_point([0.5, 0.5], user_point(SALT, user))]
        for visit in range(3):
            clicked = rng.random() < {"control": 0.05, "challenger": 0.15}[arm]
            at = start + timedelta(seconds=len(rows))
            rows.append({"id": uuid.uuid4().hex, "user_id": user, "arm": arm, "items": [1], "created_at": at,
                         "status": store.CLICKED if clicked else store.UNCLICKED, "visit": f"{user}-{visit}",
                         "experiment_id": experiment.id})
    with engine.begin() as conn:
        conn.execute(store.impressions.insert(), rows)
    engine.dispose()
    reading, summary = read_verdict(url, now([(0.5, 0.5)]), "control")
    assert (reading.decision, reading.arm, reading.srm) == ("ship", "challenger", False)
    assert summary["experiment"] == experiment.id and summary["analysed"] == 6000
    assert [a["arm"] for a in summary["arms"]] == ["control", "challenger"]
    other = Deployed("funflix", "r-ab-router", "sticky", "another-salt", ARMS, (0.5, 0.5), history=((0.5, 0.5),))
    reading, summary = read_verdict(url, other, "control")
    assert reading.decision == "keep running" and "is not the one the router serves" in summary["note"]
