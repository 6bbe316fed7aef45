"""Keeping the analysis valid across a ramp: analyse only the users whose arm never changed.

The sticky router (``serving/ABRouter.py``) puts each user at a fixed point ``u`` in [0, 1) (a salted
hash) and serves the arm whose cumulative split interval holds ``u``. A split change moves only the
users between the old and the new boundary; everyone else keeps their arm. A user who moved has
seen both arms, so their clicks belong to neither cleanly, and the arms' shares of users change
with every step. So the watch analyses the users whose arm is the same under every split the
experiment has had (the split history kept on the cluster object), and checks the sample ratio
against the share of [0, 1) that stays with each arm. Within that population the assignment is
still the random hash, fixed for the whole experiment: the comparison stays a randomised one.
"""

from __future__ import annotations

import bisect
import hashlib
from itertools import accumulate


def user_point(salt: str, user_id: int) -> float:
    """The user's fixed point in [0, 1), exactly as the router computes it (BLAKE2b of ``salt:user_id``)."""
    digest = hashlib.blake2b(f"{salt}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def child_for_point(split: list[float], point: float) -> int:
    """The arm (child index) whose cumulative interval of ``split`` holds ``point``, as the router picks it."""
    return bisect.bisect_right(list(accumulate(split))[:-1], point)


def stable_child(history: list[list[float]], point: float) -> int | None:
    """The arm a user at ``point`` had under every split of ``history``; None if they moved."""
    children = {child_for_point(split, point) for split in history}
    return children.pop() if len(children) == 1 else None


def stable_shares(history: list[list[float]]) -> list[float]:
    """Per arm, the share of [0, 1) whose users never changed arm over ``history``."""
    cuts = sorted({0.0, 1.0, *(b for split in history for b in accumulate(split[:-1]))})
    shares = [0.0] * len(history[0])
    for low, high in zip(cuts, cuts[1:]):
        child = stable_child(history, (low + high) / 2)
        if child is not None and high > low:
            shares[child] += high - low
    return shares
