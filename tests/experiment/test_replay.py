"""The chunked replay: exact user-level sums at every prefix, whatever the chunks; the same test
and plotted path as one pass; a copy extends without touching the kept state."""

import numpy as np

from funflix.experiment.replay import Replay
from funflix.experiment.sequential import SequentialConfig, sequential_test
from funflix.experiment.user_level import ratio_statistics, ratio_variance

ARMS = ["control", "challenger"]


def columns(df):
    codes = np.where(df["arm"].to_numpy() == "control", 0, 1)
    return codes, df["user_id"].to_numpy(), df["clicked"].to_numpy(), df["created_at"].astype("int64").to_numpy() / 1e9


def test_sums_are_exact_at_every_prefix_whatever_the_chunks(impressions_factory):
    df = impressions_factory(n=4000, users=300, seed=2).sort_values("created_at", kind="stable")
    codes, users, clicked, times = columns(df)
    replay = Replay(ARMS, "control", SequentialConfig())
    cuts = [1, 17, 999, 1000, 2500, 4000]
    for start, cut in zip([0] + cuts, cuts):
        replay.feed(codes[start:cut], users[start:cut], clicked[start:cut], times[start:cut])
        for arm, stat in ratio_statistics(df.iloc[:cut]).items():
            assert replay.ratio_statistics()[arm] == stat


def test_chunks_give_the_one_pass_sequential_test_and_path(impressions_factory):
    df = impressions_factory(n=1500, users=200, seed=3).sort_values("created_at", kind="stable")
    codes, users, clicked, times = columns(df)
    whole = Replay(ARMS, "control", SequentialConfig(), max_points=50)
    whole.feed(codes, users, clicked, times)
    kept = Replay(ARMS, "control", SequentialConfig(), max_points=50)
    kept.feed(codes[:734], users[:734], clicked[:734], times[:734])
    extended = kept.copy()
    for start in range(734, 1500, 300):
        extended.feed(*(c[start:start + 300] for c in (codes, users, clicked, times)))
    assert extended.sequential() == whole.sequential()
    assert extended.timeline(0.05) == whole.timeline(0.05) and len(whole.timeline(0.05).times) <= 50
    assert kept.rows == 734  # the copy moved on, the kept replay did not
    # and the test is the mSPRT read after every impression, computed in one go
    prefix = [ratio_statistics(df.iloc[:k]) for k in range(1, 1501)]
    both = [k for k, s in enumerate(prefix) if len(s) == 2]
    sums = lambda arm: np.array([[getattr(prefix[k][arm], f) for k in both] for f in (  # noqa: E731
        "n", "m_sum", "m_sum_squares", "d_sum", "d_sum_squares", "m_d_sum_of_products")])
    a, b = sums("control"), sums("challenger")
    expected, _ = sequential_test(a[3] + b[3], b[1] / b[3] - a[1] / a[3], ratio_variance(*a) + ratio_variance(*b))
    assert whole.sequential()["challenger"] == expected
