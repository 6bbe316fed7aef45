"""Team-draft interleaving (Radlinski, Kurup & Joachims 2008) and how a click is scored.

Two rankers each propose a list. Round by round a fair coin decides which team picks first;
each team then adds its best item not yet in the merged list (duplicates are skipped, so a
team's pick is always a new item). Every shown item keeps the team that drafted it, and a
click credits that team. The coin comes from a :class:`numpy.random.Generator` seeded from
the request's ``puid`` (:func:`puid_generator`), so serving the same request again gives the
same merged list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

WIN, LOSS, TIE, NO_CLICK = "win", "loss", "tie", "no_click"
OUTCOMES = (WIN, LOSS, TIE, NO_CLICK)


@dataclass(frozen=True)
class Ranking:
    """A merged list: ``items`` best first and, aligned with them, the ``teams`` (0 = a, 1 = b)."""

    items: list[int]
    teams: list[int]

    def team_items(self, team: int) -> list[int]:
        return [item for item, t in zip(self.items, self.teams) if t == team]


def puid_generator(puid: str) -> np.random.Generator:
    """A generator seeded from a request's ``puid`` (BLAKE2b, so every process agrees)."""
    if not isinstance(puid, str) or not puid:
        raise ValueError("puid must be a non-empty string")
    seed = int.from_bytes(hashlib.blake2b(puid.encode(), digest_size=8).digest(), "big")
    return np.random.default_rng(seed)


def interleave(a: Sequence[int], b: Sequence[int], rng: np.random.Generator, k: int | None = None) -> Ranking:
    """Team-draft merge of lists ``a`` and ``b`` into at most ``k`` items (default: ``max(len)``)."""
    k = max(len(a), len(b)) if k is None else k
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    lists = (list(a), list(b))
    cursor = [0, 0]
    shown: set[int] = set()
    items: list[int] = []
    teams: list[int] = []

    def pick(team: int) -> bool:
        source = lists[team]
        while cursor[team] < len(source) and source[cursor[team]] in shown:
            cursor[team] += 1
        if cursor[team] == len(source):
            return False
        item = source[cursor[team]]
        shown.add(item)
        items.append(item)
        teams.append(team)
        return True

    while len(items) < k:
        first = int(rng.integers(2))
        picked = False
        for team in (first, 1 - first):
            if len(items) < k:
                picked = pick(team) or picked
        if not picked:  # both lists are used up
            break
    return Ranking(items, teams)


def evaluate(ranking: Ranking, clicked: Sequence[int]) -> tuple[int, int]:
    """Clicks per team on ``ranking``'s items (clicked items not shown are ignored)."""
    team_of = dict(zip(ranking.items, ranking.teams))
    credited = [team_of[item] for item in set(clicked) if item in team_of]
    return credited.count(0), credited.count(1)


def outcome(clicks_a: int, clicks_b: int) -> str:
    """The impression's outcome for team b (the challenger): win, loss, tie or no_click."""
    if clicks_a == clicks_b:
        return NO_CLICK if clicks_a == 0 else TIE
    return WIN if clicks_b > clicks_a else LOSS
