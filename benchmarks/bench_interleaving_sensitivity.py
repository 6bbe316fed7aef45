"""Users needed to reach the right decision: A/B (user-level CTR test) versus team-draft interleaving
(user-level sign test), on the simulated population, offline and vectorised.

    .venv/bin/python benchmarks/bench_interleaving_sensitivity.py [--reps 100] [--visits 1 3 10] [--json]

Six rankers (popularity, control, challenger, and the challenger with 3 epochs, 4 components, no item
features) are trained on ml-latest-small; the click model is calibrated as the simulators calibrate it
(control's real lists earn 7%) and is not tuned. For each pair, users are drawn with replacement from
the 608 simulated users; each makes ``visits`` visits. The power of each design is simulated on a grid
of sample sizes around its normal-approximation size; a probit fit of power against log(users) gives
the users for 90% power at two-sided alpha 0.05 ("the right decision": significant, in the direction of
the truly better ranker), and a bootstrap over replications gives its 95% interval and the ratio's.
Also: A/A interleaving (control in both teams) false positives under continuous monitoring (the
always-valid mSPRT of the analysis, and a naive sign test), agreement with decisive A/B tests, how the
ratio moves with the visits per user (equal for everyone, and heavy-tailed engagement), and where the
preference comes from: the clicks on items both lists hold (credited to the team whose pick placed
them) against the clicks on the rest.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

import numpy as np
from scipy.stats import binom, norm
from tqdm import tqdm

from funflix.experiment.sequential import msprt_log_likelihood_ratio
from funflix.models.pipeline import prepare
from funflix.models.variants import train_rankers
from funflix.simulation.click_calibration import ROW_SIZE, arm_lists, calibrate
from funflix.simulation.interleaving_offline import (PairOutcomes, Visits, ab_significant, as_visits,
                                                     interleaving_significant, pair_outcomes, preference_probabilities)
from funflix.simulation.tastes import Tastes

ALPHA, POWER = 0.05, 0.9
AGREEMENT_REPS = 200
MAX_USERS = 250_000  # a design needing more (by its normal approximation) is reported as "> 250k", not simulated


def analytic_users(pair, visits, design: str) -> float:
    """Normal-approximation users for 90% power (centres the simulated grid)."""
    za, zb = norm.ppf(1 - ALPHA / 2), norm.ppf(POWER)
    visits = as_visits(visits)
    if design == "ab":  # delta method at the user: (m1 E[c(1-c)] + m2 Var(c)) / m1^2 per user and arm
        var = [(visits.mean * np.mean(c * (1 - c)) + visits.second_moment * c.var()) / visits.mean ** 2
               for c in (pair.ctr_a, pair.ctr_b)]
        diff = pair.ctr_b.mean() - pair.ctr_a.mean()
        return 2 * (za + zb) ** 2 * sum(var) / diff ** 2
    prefer_b, prefer_a = (float(p.mean()) for p in preference_probabilities(pair, visits))
    decisive = prefer_b + prefer_a
    p = prefer_b / decisive
    if p == 0.5:
        return float("inf")
    return ((za * 0.5 + zb * np.sqrt(p * (1 - p))) / (p - 0.5)) ** 2 / decisive


def n_for_power(grid: np.ndarray, right: np.ndarray) -> float:
    """Users at 90% power from a probit fit of power against log(users); ``right`` is (len(grid), reps) 0/1."""
    power = right.mean(axis=1).clip(0.5 / right.shape[1], 1 - 0.5 / right.shape[1])
    slope, intercept = np.polyfit(np.log(grid), norm.ppf(power), 1, w=np.sqrt(right.shape[1]) * np.ones(len(grid)))
    return float(np.exp((norm.ppf(POWER) - intercept) / slope)) if slope > 0 else float("inf")


def users_to_decision(pair, visits, design: str, reps: int, rng, boot: int = 300) -> dict:
    """Simulated users for 90% power with a bootstrap interval, for one design (``inf``: more than
    ``MAX_USERS`` by the normal approximation, or a preference in the wrong direction)."""
    centre = analytic_users(pair, visits, design)
    better = np.sign(pair.ctr_b.mean() - pair.ctr_a.mean())
    if design == "interleaving" and np.sign(pair.preference - 0.5) != better:
        centre = float("inf")
    if centre > MAX_USERS:
        return {"users": float("inf"), "ci": (float("inf"), float("inf")), "analytic": centre, "boot": None}
    grid = np.unique(np.geomspace(max(20, centre * 0.5), centre * 1.8, 6).round().astype(int))
    test = ab_significant if design == "ab" else interleaving_significant
    right = np.zeros((len(grid), reps))
    for g, users in enumerate(grid):
        chunk = max(1, int(4e6 // (users * (2 if design == "ab" else 1))))
        rows = [test(pair, int(users), visits, min(chunk, reps - s), rng, ALPHA) == better for s in range(0, reps, chunk)]
        right[g] = np.concatenate(rows)
    boots = np.array([n_for_power(grid, right[:, rng.integers(reps, size=reps)]) for _ in range(boot)])
    return {"users": n_for_power(grid, right), "ci": tuple(np.percentile(boots, [2.5, 97.5])), "analytic": centre,
            "boot": boots, "grid": grid.tolist(), "power": right.mean(axis=1).round(3).tolist()}


def ratio_summary(ab: dict, il: dict) -> dict:
    if ab["boot"] is None or il["boot"] is None:
        return {"ratio": None, "ci": None}
    boots = ab["boot"] / il["boot"]
    return {"ratio": ab["users"] / il["users"], "ci": tuple(np.percentile(boots, [2.5, 97.5]))}


def aa_false_positives(pair, users: int, visits: int, reps: int, peek_every: int, rng, mixture_sd: float = 0.05):
    """A/A: users arrive one by one; after every ``peek_every`` users the always-valid mSPRT (ties excluded,
    null variance 1/(4m)) and a naive sign test are read. Share of experiments that ever reject."""
    looks = np.arange(peek_every, users + 1, peek_every)
    hits = {"msprt_any_look": 0, "naive_any_look": 0, "fixed_final": 0}
    for start in tqdm(range(0, reps, 200), desc="A/A experiments", unit="x200", file=sys.stderr, leave=False):
        n = min(200, reps - start)
        picked = rng.integers(len(pair.win), size=(n, users))
        wins = rng.binomial(visits, pair.win[picked])
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = np.clip(np.where(pair.win[picked] < 1, pair.loss[picked] / (1 - pair.win[picked]), 0), 0, 1)
        losses = rng.binomial(visits - wins, rest)
        b = np.cumsum(wins > losses, axis=1)[:, looks - 1]
        a = np.cumsum(losses > wins, axis=1)[:, looks - 1]
        m = a + b
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(m > 0, b / m - 0.5, 0.0)
            v = np.where(m > 0, 0.25 / m, 0.0)
        llr = msprt_log_likelihood_ratio(d, v, mixture_sd)
        p_naive = np.minimum(1.0, 2 * binom.cdf(np.minimum(a, b), m, 0.5))
        hits["msprt_any_look"] += int((llr >= np.log(1 / ALPHA)).any(axis=1).sum())
        hits["naive_any_look"] += int((p_naive <= ALPHA).any(axis=1).sum())
        hits["fixed_final"] += int((p_naive[:, -1] <= ALPHA).sum())
    rates = {k: v / reps for k, v in hits.items()}
    return {**rates, "se": {k: float(np.sqrt(r * (1 - r) / reps)) for k, r in rates.items()},
            "reps": reps, "users": users, "looks": len(looks), "visits": visits}


def held_out_click_share(model, lists: dict[int, list[int]]) -> float:
    """Share of a ranker's expected A/B clicks on items the user will love (held-out positives): clicks
    depend on the item, not only on the position."""
    on, total = 0.0, 0.0
    for user, items in lists.items():
        clicks = model.position_probabilities(user, items)
        on += clicks[model.tastes.liking(user, items)[0] > 0].sum()
        total += clicks.sum()
    return float(on / total)


def shared_clicks_tie(pair: PairOutcomes) -> PairOutcomes:
    """The same pair with clicks on items both lists hold counted as ties (neither team's)."""
    return PairOutcomes(pair.ctr_a, pair.ctr_b, pair.win - pair.win_shared, pair.loss - pair.loss_shared,
                        0 * pair.win, 0 * pair.loss, pair.shared)


def fmt(users: float) -> str:
    return "> 250k" if not np.isfinite(users) else f"{users:,.0f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100, help="replications per sample size (default 100)")
    parser.add_argument("--visits", type=int, nargs="+", default=[1, 3, 10], help="visits per user to sweep")
    parser.add_argument("--heavy-mean", type=float, default=3.0,
                        help="mean visits of the heavy-tailed engagement row of the sweep (default 3)")
    parser.add_argument("--aa-reps", type=int, default=1000, help="A/A experiments (default 1000; 0 skips them)")
    parser.add_argument("--shared-clicks", choices=("team", "tie"), default="team",
                        help="a click on an item both lists hold: credits the team that drafted it (team draft, "
                             "what serving does; default) or counts as a tie (an alternative rule, offline only)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    prepared = prepare()
    rankers = train_rankers(prepared)
    tastes = Tastes.from_split(prepared.split, prepared.movies)
    model, calibration = calibrate(tastes, rankers)  # as the simulators do: control's lists earn 7%
    lists = {name: arm_lists(rec, tastes.user_ids, ROW_SIZE) for name, rec in tqdm(
        rankers.items(), desc="lists", unit="ranker", file=sys.stderr)}
    ctr = calibration.expected_ctr
    names = sorted(rankers, key=ctr.get)  # worst first: each pair is (a worse, b better)
    pairs = {}
    for a, b in tqdm(list(itertools.combinations(names, 2)), desc="exact pair probabilities", unit="pair",
                     file=sys.stderr):
        pairs[(a, b)] = pair_outcomes(model, lists[a], lists[b])
    if args.shared_clicks == "tie":
        pairs = {key: shared_clicks_tie(pair) for key, pair in pairs.items()}
    aa = pair_outcomes(model, lists["control"], lists["control"])

    rows = []
    main_visits = args.visits[0]
    for (a, b), pair in tqdm(pairs.items(), desc=f"users to decision ({main_visits} visit/user)", unit="pair",
                             file=sys.stderr):
        ab = users_to_decision(pair, main_visits, "ab", args.reps, rng)
        il = users_to_decision(pair, main_visits, "interleaving", args.reps, rng)
        rows.append({"a": a, "b": b, "lift": pair.lift, "preference": pair.preference, "visits": main_visits,
                     "ab": ab, "interleaving": il, **ratio_summary(ab, il), "shared": pair.shared_breakdown()})

    # agreement: at the A/B test's own 90%-power size (capped), both designs on fresh replications
    for row in tqdm(rows, desc="agreement", unit="pair", file=sys.stderr):
        pair = pairs[(row["a"], row["b"])]
        users = int(min(row["ab"]["users"], MAX_USERS))
        ab = ab_significant(pair, users, main_visits, AGREEMENT_REPS, rng)
        il = interleaving_significant(pair, users, main_visits, AGREEMENT_REPS, rng)
        row["agreement"] = {"users": users, "ab_decisive": float((ab != 0).mean()),
                            "interleaving_decisive": float((il != 0).mean()),
                            "disagree_when_both_decisive": int(((ab != 0) & (il != 0) & (ab != il)).sum()),
                            "interleaving_contradicts_decisive_ab": int(((ab != 0) & (il == -ab)).sum()),
                            "population_sign_agrees": bool(np.sign(pair.lift) == np.sign(pair.preference - 0.5))}

    headline = min(rows, key=lambda r: abs(r["lift"] - 0.10))
    sweep = []
    settings = [Visits.equal(v) for v in args.visits] + [Visits.heavy_tailed(args.heavy_mean)]
    swept = list(dict.fromkeys([(headline["a"], headline["b"]), ("challenger-3-epochs", "challenger"),
                                ("control", "challenger")]))
    for visits in tqdm(settings, desc="visits per user sweep", unit="setting", file=sys.stderr):
        for key in swept:
            pair = pairs[key]
            ab = users_to_decision(pair, visits, "ab", args.reps, rng)
            il = users_to_decision(pair, visits, "interleaving", args.reps, rng)
            sweep.append({"a": key[0], "b": key[1], "lift": pair.lift, "visits": visits.label(), "ab": ab["users"],
                          "interleaving": il["users"], **ratio_summary(ab, il)})
    false_positives = aa_false_positives(aa, 5000, 3, args.aa_reps, 50, rng) if args.aa_reps else None

    summary = {"click_model": {"intercept": model.intercept, "expected_ctr": ctr},
               "clicks_on_held_out": {n: held_out_click_share(model, lists[n]) for n in names}, "pairs": [
        {k: v for k, v in {**r, "ab": {k2: v2 for k2, v2 in r["ab"].items() if k2 != "boot"},
                           "interleaving": {k2: v2 for k2, v2 in r["interleaving"].items() if k2 != "boot"}}.items()}
        for r in rows], "headline": {"a": headline["a"], "b": headline["b"]}, "visits_sweep": sweep,
        "aa_false_positives": false_positives, "seconds": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(summary, default=float))
        return 0
    print(f"click model intercept {model.intercept:.3f}; expected CTR " +
          ", ".join(f"{n} {ctr[n]:.4f}" for n in names))
    print("share of each ranker's clicks that land on the user's held-out positives: " +
          ", ".join(f"{n} {summary['clicks_on_held_out'][n]:.1%}" for n in names))
    print(f"\nusers to the right decision (90% power, alpha 0.05, {main_visits} visit(s) per user):")
    print("| pair (a -> b) | CTR lift | preference for b | A/B users [95% CI] | interleaving users [95% CI] | ratio [95% CI] | A/B decisive, contradicted |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: r["lift"]):
        ratio = "n/a" if r["ratio"] is None else f"**{r['ratio']:.1f}x** [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}]"
        g = r["agreement"]
        print(f"| {r['a']} -> {r['b']} | {100 * r['lift']:+.1f}% | {100 * r['preference']:.1f}% | "
              f"{fmt(r['ab']['users'])} [{fmt(r['ab']['ci'][0])}, {fmt(r['ab']['ci'][1])}] | "
              f"{fmt(r['interleaving']['users'])} [{fmt(r['interleaving']['ci'][0])}, {fmt(r['interleaving']['ci'][1])}] | "
              f"{ratio} | {100 * g['ab_decisive']:.0f}%, {g['interleaving_contradicts_decisive_ab']} of {AGREEMENT_REPS} |")
    print("\nwhere the preference comes from (exact, over every coin sequence):")
    print("| pair (a -> b) | CTR lift | items both top-10 lists hold | clicks on them | b's share of those | "
          "b's share of the other clicks | b's share of all clicks |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: r["lift"]):
        s = r["shared"]
        of_shared = "-" if s["b_share_of_shared"] is None else f"{100 * s['b_share_of_shared']:.1f}%"
        print(f"| {r['a']} -> {r['b']} | {100 * r['lift']:+.1f}% | {s['shared_items']:.1f} | "
              f"{100 * s['clicks_on_shared']:.0f}% | {of_shared} | "
              f"{100 * s['b_share_of_unique']:.1f}% | {100 * r['preference']:.1f}% |")
    print("\nvisits per user:")
    print("| pair | lift | visits | A/B users | interleaving users | ratio [95% CI] |")
    print("| --- | --- | --- | --- | --- | --- |")
    for s in sweep:
        ratio = "n/a" if s["ratio"] is None else f"{s['ratio']:.1f}x [{s['ci'][0]:.1f}, {s['ci'][1]:.1f}]"
        print(f"| {s['a']} -> {s['b']} | {100 * s['lift']:+.1f}% | {s['visits']} | {fmt(s['ab'])} | "
              f"{fmt(s['interleaving'])} | {ratio} |")
    f = false_positives or {}
    if f:
        print(f"\nA/A interleaving (control in both teams), {f['reps']} experiments of {f['users']} users x {f['visits']} "
              f"visits, {f['looks']} looks: always-valid mSPRT {f['msprt_any_look']:.3f} (se {f['se']['msprt_any_look']:.3f}), "
              f"naive sign test at every look {f['naive_any_look']:.3f}, fixed horizon once {f['fixed_final']:.3f}")
    print(f"({summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
