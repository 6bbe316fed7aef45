"""Per-request database connection on ``g``, and the ``flask`` commands of the event store."""

from __future__ import annotations

import click
from flask import current_app, g

from . import store


def get_db():
    """The request's connection to the event store, opened on first use, closed at teardown."""
    if "db" not in g:
        g.db = current_app.extensions["funflix"].engine.connect()
    return g.db


def close_db(_exc=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


@click.command("migrate-events")
def migrate_command():
    """Apply the event store's pending migrations."""
    version = store.migrate(current_app.extensions["funflix"].engine)
    click.echo(f"event store at schema version {version}")


@click.command("flush-feedback")
def flush_command():
    """Close stale impressions (reward 0) and deliver every due feedback now."""
    sent, failed = current_app.extensions["funflix"].housekeeping()
    click.echo(f"feedback sent={sent} failed={failed}")


def init_app(app) -> None:
    app.teardown_appcontext(close_db)
    app.cli.add_command(migrate_command)
    app.cli.add_command(flush_command)
