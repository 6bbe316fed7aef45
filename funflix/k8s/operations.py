"""Experiment operations on a cluster: read the deployed experiment, set its split, freeze it, start the next.

Every change is one conflict-safe patch of the primary object (:mod:`funflix.k8s.target`) that also
writes the operation as annotations on it, in the same write:

- ``funflix.io/last-operation``: what was done, by whom, when, the split before and after;
- ``funflix.io/split-history``: every split the experiment (its salt) has had, which the watch
  needs to keep its analysis to users who never changed arm (:mod:`funflix.k8s.ramp`);
- ``funflix.io/frozen``: set by the watch on a sample-ratio mismatch, cleared by any split set by hand.

Then the rollout is awaited and a Kubernetes Event records the operation.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .api import actor, now_iso, patch_safely, record_event
from .target import Target

LAST_OPERATION = "funflix.io/last-operation"
SPLIT_HISTORY = "funflix.io/split-history"
FROZEN = "funflix.io/frozen"
ROLLOUT_TIMEOUT = 300.0
EVENT_REASONS = {"split": "SplitChanged", "promote": "Promoted", "rollback": "RolledBack", "ramp": "Ramped"}


@dataclass(frozen=True)
class Deployed:
    """The experiment as the cluster serves it (read from the primary object and the arms)."""

    orchestrator: str
    object: str
    mode: str
    salt: str
    arms: tuple[str, ...]
    split: tuple[float, ...]
    models: dict = field(default_factory=dict)  # arm -> {"model", "version"}
    history: tuple[tuple[float, ...], ...] = ()
    last_operation: dict | None = None
    frozen: bool = False
    changed_at: float = 0.0

    def shares(self) -> dict[str, float]:
        return dict(zip(self.arms, self.split))


def _split_text(split) -> str:
    return ",".join(f"{s:.12g}" for s in split)


def deployed(target: Target, obj: dict) -> Deployed:
    """The experiment the primary object ``obj`` (and the arms) describe."""
    params = target.router_parameters(obj)
    notes = obj["metadata"].get("annotations") or {}
    arms = tuple(params["arms"].split(","))
    split = tuple(float(s) for s in params["split"].split(","))
    history = json.loads(notes.get(SPLIT_HISTORY, "null")) or {}
    splits = [tuple(s) for s in history["splits"]] if history.get("salt") == params.get("salt") else [split]
    if splits[-1] != split:  # changed by something else than these operations: still a split it had
        splits.append(split)
    last = json.loads(notes[LAST_OPERATION]) if LAST_OPERATION in notes else None
    changed = last["at"] if last else obj["metadata"].get("creationTimestamp")
    changed_at = datetime.fromisoformat(changed.replace("Z", "+00:00")).timestamp() if changed else 0.0
    return Deployed(target.orchestrator, obj["metadata"]["name"], params.get("mode", "sticky"), params.get("salt", ""),
                    arms, split, {arm: {"model": p.get("model"), "version": p.get("version")}
                                  for arm, p in target.arms(obj).items()},
                    tuple(splits), last, notes.get(FROZEN) == "true", changed_at)


def parse_split(arms: tuple[str, ...], assignments: list[str]) -> tuple[float, ...]:
    """``["control=0.8", "challenger=0.2"]`` as shares in router order; ValueError names what is wrong."""
    given: dict[str, float] = {}
    for assignment in assignments:
        arm, sep, share = assignment.partition("=")
        if not sep or arm not in arms:
            raise ValueError(f"{assignment!r}: expected ARM=SHARE with ARM one of {', '.join(arms)}")
        if arm in given:
            raise ValueError(f"arm {arm} given twice")
        try:
            given[arm] = float(share)
        except ValueError:
            raise ValueError(f"{assignment!r}: the share must be a number in [0, 1]") from None
        if not 0.0 <= given[arm] <= 1.0:
            raise ValueError(f"{assignment!r}: the share must be in [0, 1]")
    missing = [arm for arm in arms if arm not in given]
    if missing:
        raise ValueError(f"give every arm's share (missing: {', '.join(missing)})")
    if abs(sum(given.values()) - 1.0) > 1e-9:  # the router's own tolerance
        raise ValueError(f"shares must sum to 1, got {sum(given.values()):g}")
    return tuple(given[arm] for arm in arms)


def all_to(arms: tuple[str, ...], arm: str) -> tuple[float, ...]:
    if arm not in arms:
        raise ValueError(f"unknown arm {arm!r}: arms are {', '.join(arms)}")
    return tuple(1.0 if a == arm else 0.0 for a in arms)


def _operation(action: str, before: Deployed, split, reason: str) -> dict:
    return {"action": action, "split": dict(zip(before.arms, split)), "previous": before.shares(),
            "reason": reason, "by": actor(), "at": now_iso()}


def _values_update(split, salt: str | None = None, models: dict | None = None):
    """How the chart's ``experiment`` values change (for the gateway's ConfigMap and the website)."""
    def update(experiment: dict) -> dict:
        arms = []
        for arm, share in zip(experiment["arms"], split):
            arms.append(dict(arm, split=share, **(models or {}).get(arm["name"], {})))
        return dict(experiment, arms=arms, **({"salt": salt} if salt else {}))
    return update


def set_split(target: Target, split: tuple[float, ...], action: str, reason: str, wait: bool = True,
              timeout: float = ROLLOUT_TIMEOUT) -> tuple[Deployed, int]:
    """Serve ``split`` (router order), unfrozen; returns the experiment as now deployed and the conflicts
    retried."""
    seen = {}

    def change(obj: dict) -> list[dict]:
        before = seen["before"] = deployed(target, obj)
        history = list(before.history) + ([list(split)] if tuple(split) != before.history[-1] else [])
        notes = {LAST_OPERATION: json.dumps(_operation(action, before, split, reason)),
                 SPLIT_HISTORY: json.dumps({"salt": before.salt, "splits": history}), FROZEN: "false"}
        return target.router_ops(obj, {"split": _split_text(split)}) + target.annotation_ops(obj, notes)

    obj, conflicts = patch_safely(target.read, target.patch, change)
    before = seen["before"]
    record_event(target.api_client, obj, EVENT_REASONS[action],
                 f"split {_split_text(before.split)} -> {_split_text(split)} ({', '.join(before.arms)}): {reason}")
    target.sync_experiment(_values_update(split), website=False)
    if wait:
        target.wait(obj, timeout)
    return deployed(target, target.read()), conflicts


def freeze(target: Target, reason: str) -> Deployed:
    """Keep the split as it is, mark it frozen, and raise a Warning Event."""
    def change(obj: dict) -> list[dict]:
        before = deployed(target, obj)
        notes = {FROZEN: "true", LAST_OPERATION: json.dumps(_operation("freeze", before, before.split, reason))}
        return target.annotation_ops(obj, notes)

    obj, _ = patch_safely(target.read, target.patch, change)
    record_event(target.api_client, obj, "Frozen", f"split frozen: {reason}", warning=True)
    return deployed(target, obj)


def start_experiment(target: Target, version: str, challenger: str | None = None, salt: str | None = None,
                     control_version: str | None = None, wait: bool = True,
                     timeout: float = ROLLOUT_TIMEOUT) -> Deployed:
    """A fresh experiment against the promoted model: control serves the model and version of the arm that
    takes all traffic (``control_version`` pins it when that is ``latest``, which moves with every
    retraining), ``challenger`` (default: the second arm) serves ``version``, the salt is new, the split even.

    The website is rolled too: it registers the new experiment identity when it starts.
    """
    before = deployed(target, target.read())
    promoted = [arm for arm, share in before.shares().items() if share >= 1.0]
    if not promoted:
        raise ValueError(f"no arm takes all traffic (split {_split_text(before.split)}): promote or roll back first")
    control, challenger = before.arms[0], challenger or before.arms[1]
    if challenger not in before.arms or challenger == control:
        raise ValueError(f"--challenger-arm must be one of {', '.join(before.arms[1:])}")
    models = {control: dict(before.models[promoted[0]]), challenger: {"version": version}}
    if control_version:
        models[control]["version"] = control_version
    if models[control]["version"] == "latest":
        raise ValueError(f"{promoted[0]} serves 'latest', which moves with every retraining: give the version it "
                         f"serves with --control-version")
    salt = salt or f"{before.salt.split('~')[0]}~{datetime.now(timezone.utc):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
    split = tuple(round(1.0 / len(before.arms), 6) for _ in before.arms)
    reason = (f"new experiment: control serves {models[control]['model']} {models[control]['version']} "
              f"(promoted from {promoted[0]}), {challenger} serves version {version}, salt {salt}")

    def change(obj: dict) -> list[dict]:
        now = deployed(target, obj)
        notes = {LAST_OPERATION: json.dumps(_operation("start-experiment", now, split, reason)),
                 SPLIT_HISTORY: json.dumps({"salt": salt, "splits": [list(split)]}), FROZEN: "false"}
        return (target.router_ops(obj, {"split": _split_text(split), "salt": salt})
                + target.arms_ops(obj, models) + target.annotation_ops(obj, notes))

    target.set_arms(models)
    obj, _ = patch_safely(target.read, target.patch, change)
    record_event(target.api_client, obj, "ExperimentStarted", reason)
    target.sync_experiment(_values_update(split, salt, models), website=True)
    if wait:
        target.wait(obj, timeout, everything=True)
    return deployed(target, target.read())
