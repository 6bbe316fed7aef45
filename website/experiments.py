"""The experiment's identity, stored with its events so analyses never mix two experiments.

An experiment is its ``name``, ``salt`` and the arms' model versions (``latest`` resolved to
the version the arm's ``LATEST`` names when the artifacts are at hand), with a ``start`` and an
``end``. Its id is the name plus a hash of the rest, so every website worker and pod computes
the same id from the same configuration without coordinating. The website registers its
experiment at start-up (:func:`register_experiment`) and tags each impression with the id; the
first registration of an id starts it and ends the experiment that was open. Registering a known
id changes nothing (a restarted old pod does not reopen its experiment). A new salt or a new
model version is a new experiment; a new split is not (a ramp stays one experiment).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from .store import _insert_ignoring_duplicates, as_utc, experiments, transaction, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Experiment:
    """One stored experiment; ``arms`` lists ``{name, model, version, run_id}`` in router order."""

    id: str
    name: str
    salt: str
    arms: tuple[dict, ...]
    started_at: datetime
    ended_at: datetime | None

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(arms=list(self.arms), started_at=self.started_at.isoformat(),
                    ended_at=self.ended_at.isoformat() if self.ended_at else None)
        return data


def resolved_arms(config, models_root: str | Path | None = None) -> list[dict]:
    """The configured arms with ``latest`` resolved, and each version's MLflow run id when known."""
    from funflix.models.artifacts import latest_version, read_metadata

    arms = []
    for arm in config.arms:
        version = arm.version
        if version == "latest":
            version = latest_version(arm.model, models_root) or "latest"
            if version == "latest":
                log.warning("arm %s: no artifacts at hand to resolve 'latest'; the identity records 'latest'", arm.name)
        try:
            run_id = read_metadata(arm.model, version, models_root).get("tracking", {}).get("run_id")
        except (FileNotFoundError, ValueError):
            run_id = None
        arms.append({"name": arm.name, "model": arm.model, "version": version, "run_id": run_id})
    return arms


def experiment_id(name: str, salt: str, arms: list[dict], design: str = "ab") -> str:
    """``<name>-<8 hex>``: the hash covers the salt, each arm's name, model and version, and a design
    other than A/B (an interleaved run of the same arms is another experiment)."""
    key = [salt, [[a["name"], a["model"], a["version"]] for a in arms]]
    key = json.dumps(key if design == "ab" else [*key, design])
    return f"{name[:70]}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def register_experiment(conn: sa.Connection, config, models_root: str | Path | None = None,
                        now: datetime | None = None) -> Experiment:
    """Record the experiment of ``config`` (an ``ExperimentConfig``); return it as stored.

    A new id is inserted with ``started_at = now`` and ends every other open experiment, in one
    transaction (serialised across processes, so two new experiments never both stay open).
    """
    now = now or utcnow()
    arms = resolved_arms(config, models_root)
    new_id = experiment_id(config.name, config.salt, arms, config.design)
    with transaction(conn):
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727275)")
        inserted = conn.execute(_insert_ignoring_duplicates(conn, experiments).values(
            id=new_id, name=config.name, salt=config.salt, arms=arms, started_at=now)).rowcount
        if inserted:
            conn.execute(experiments.update().where(experiments.c.ended_at.is_(None), experiments.c.id != new_id)
                         .values(ended_at=now))
            log.info("experiment %s started (%s)", new_id, ", ".join(f"{a['name']}={a['version']}" for a in arms))
        row = conn.execute(sa.select(experiments).where(experiments.c.id == new_id)).one()
    return _record(row)


def _record(row) -> Experiment:
    return Experiment(id=row.id, name=row.name, salt=row.salt, arms=tuple(row.arms),
                      started_at=as_utc(row.started_at), ended_at=as_utc(row.ended_at))


def list_experiments(conn: sa.Connection) -> list[Experiment]:
    """Every stored experiment, the most recently started first."""
    with transaction(conn):
        rows = conn.execute(sa.select(experiments).order_by(experiments.c.started_at.desc(),
                                                            experiments.c.id.desc())).all()
    return [_record(row) for row in rows]


def find_experiment(conn: sa.Connection, name_or_id: str | None = None) -> Experiment | None:
    """The experiment with id ``name_or_id``, else the latest one of that name; None: the current one
    (the open experiment started last, else the last started; None when the store has none).

    ValueError names the stored experiments when nothing matches.
    """
    stored = list_experiments(conn)
    if name_or_id is None:
        return next((e for e in stored if e.ended_at is None), stored[0] if stored else None)
    found = next((e for e in stored if e.id == name_or_id), None) or next(
        (e for e in stored if e.name == name_or_id), None)
    if found is None:
        known = ", ".join(f"{e.id} ({e.name})" for e in stored) or "none yet"
        raise ValueError(f"no experiment {name_or_id!r} in the event store; stored: {known}")
    return found
