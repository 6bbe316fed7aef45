"""Seldon ROUTER component: picks the arm (child index) for each recommend request.

Modes
-----
sticky
    A salted hash of ``user_id`` maps each user to a point ``u`` in [0, 1); the arm is the
    one whose cumulative split interval holds ``u``. A user sees the same arm for the whole
    experiment (Seldon's RANDOM_ABTEST cannot do that), and changing the split only moves the
    users whose ``u`` lies between the old and new boundaries: with two arms, going from 50/50
    to 60/40 moves 10% of users, all from arm 1 to arm 0. A new ``salt`` re-randomises everyone.
random
    A fresh draw per request, like RANDOM_ABTEST (``draw < ratioA`` -> child 0): the same user
    can see both arms, so per-user outcomes are correlated across arms.
thompson
    Thompson sampling over Beta(1 + clicks, 1 + non-clicks) posteriors learnt from
    ``send_feedback``. It shifts traffic to the arm that looks better, which maximises clicks
    during the test but biases a plain A/B comparison: the arms are observed in different
    periods with different sample sizes chosen from the data itself, so the naive CTR
    difference and its z-test are no longer valid (use it to exploit, not to decide). The
    posteriors live in the router's one worker and start afresh when it restarts. The local
    gateway forwards only feedback that a model credited (so retries do not count twice); a
    Seldon executor forwards every feedback it receives.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import threading

import numpy as np
from seldon_core.flask_utils import SeldonMicroserviceException

from funflix.serving.component_errors import error_blueprint
from funflix.serving.experiment_config import ROUTING_MODES
from funflix.serving.recommend_request import InvalidRequest, parse_features
from funflix.serving.seldon_metrics_lock import serialise_updates

log = logging.getLogger(__name__)


def user_point(salt: str, user_id: int) -> float:
    """The user's fixed point in [0, 1): the first 64 bits of BLAKE2b(salt:user_id)."""
    digest = hashlib.blake2b(f"{salt}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class ABRouter:
    """Route recommend requests between arms.

    Parameters (graph ``parameters``)
    ----------
    mode : "sticky", "random" or "thompson" (STRING).
    split : comma-separated traffic fractions in child order, summing to 1 (STRING), e.g. "0.5,0.5".
    arms : comma-separated arm names in child order, for logs (STRING).
    salt : salt of the sticky user hash (STRING).
    seed : seed of the random/thompson draws (INT); unset draws fresh entropy in each worker.
    """

    def __init__(self, mode: str = "sticky", split: str = "0.5,0.5", arms: str = "control,challenger",
                 salt: str = "", seed: int | None = None):
        if mode not in ROUTING_MODES:
            raise ValueError(f"mode must be one of {', '.join(ROUTING_MODES)}, got {mode!r}")
        try:
            splits = [float(part) for part in str(split).split(",")]
        except ValueError:
            raise ValueError(f"split must be comma-separated fractions like '0.5,0.5', got {split!r}") from None
        if len(splits) < 2 or any(not 0.0 <= s <= 1.0 for s in splits) or abs(sum(splits) - 1.0) > 1e-9:
            raise ValueError(f"split needs two or more fractions in [0, 1] summing to 1, got {split!r}")
        self.arm_names = [name.strip() for name in str(arms).split(",")]
        if len(self.arm_names) != len(splits):
            raise ValueError(f"{len(self.arm_names)} arm names for {len(splits)} split fractions")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.mode = mode
        self.splits = splits
        self.salt = str(salt)
        self.seed = seed
        self._boundaries = list(np.cumsum(splits))[:-1]  # the last boundary is 1 by construction
        self._clicks = np.zeros(len(splits))
        self._misses = np.zeros(len(splits))
        self._lock = threading.Lock()
        self._rng = None
        self.model_error_handler = error_blueprint()  # Seldon registers it on the component's Flask app
        serialise_updates()  # routing decisions counted by Seldon's metrics: lose none
        log.info("router %s over %s with split %s", mode, self.arm_names, splits)

    def load(self) -> None:
        """Create the random generator in each worker (a generator forked from the parent would repeat)."""
        self._rng = np.random.default_rng(self.seed)

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self.load()
        return self._rng

    def route(self, features, feature_names) -> int:
        """The child index (arm) for this request."""
        try:
            request = parse_features(features)
        except InvalidRequest as exc:
            raise SeldonMicroserviceException(str(exc), status_code=400) from None
        if self.mode == "sticky":
            return self.child_for_point(user_point(self.salt, request.user_id))
        if self.mode == "random":
            return self.child_for_point(float(self.rng.random()))
        return self._thompson_child()

    def child_for_point(self, point: float) -> int:
        """The arm whose cumulative split interval holds ``point`` in [0, 1)."""
        return bisect.bisect_right(self._boundaries, point)

    def _thompson_child(self) -> int:
        with self._lock:
            draws = self.rng.beta(1.0 + self._clicks, 1.0 + self._misses)
        draws[np.asarray(self.splits) == 0.0] = -1.0  # an arm switched off stays off
        return int(np.argmax(draws))

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        """Learn from a reward for the arm that served (``routing``, this router's child index)."""
        if reward not in (0.0, 1.0):
            raise SeldonMicroserviceException(f"reward must be 0 (not clicked) or 1 (clicked), got {reward!r}")
        if routing is None:
            return None  # Seldon leaves routing out when it is unknown: nothing to learn from
        if not 0 <= routing < len(self.splits):
            raise SeldonMicroserviceException(f"routing {routing} is not a child of this router "
                                              f"(0..{len(self.splits) - 1})")
        with self._lock:
            if reward:
                self._clicks[routing] += 1
            else:
                self._misses[routing] += 1
        return None

    def posteriors(self) -> list[dict]:
        """Beta posterior parameters per arm (what Thompson sampling draws from)."""
        with self._lock:
            return [{"arm": name, "alpha": 1.0 + c, "beta": 1.0 + m}
                    for name, c, m in zip(self.arm_names, self._clicks, self._misses)]
