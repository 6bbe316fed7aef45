"""The factory's configuration: defaults, FUNFLIX_* environment variables, the stored secret key."""

import pytest

from funflix.website import create_app


def test_environment_configures_the_app(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'env.sqlite3'}"
    monkeypatch.setenv("FUNFLIX_GATEWAY_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FUNFLIX_DATABASE_URL", url)
    monkeypatch.setenv("FUNFLIX_GATEWAY_TIMEOUT", "0.25")
    monkeypatch.setenv("FUNFLIX_RECS_K", "7")
    monkeypatch.setenv("FUNFLIX_HOUSEKEEPING_INTERVAL", "0")
    app = create_app()
    try:
        assert (app.config["GATEWAY_URL"], app.config["DATABASE_URL"]) == ("http://127.0.0.1:9", url)
        assert app.config["GATEWAY_TIMEOUT"] == 0.25 and app.config["RECS_K"] == 7
        assert (tmp_path / "env.sqlite3").is_file()
    finally:
        app.extensions["funflix"].close()


def test_a_malformed_variable_is_named(monkeypatch):
    monkeypatch.setenv("FUNFLIX_RECS_K", "ten")
    with pytest.raises(ValueError, match="FUNFLIX_RECS_K='ten': expected int"):
        create_app()


def test_a_feedback_lease_shorter_than_a_post_is_refused(tmp_path):
    with pytest.raises(ValueError, match="FEEDBACK_LEASE"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "SECRET_KEY": "k",
                    "FEEDBACK_TIMEOUT": 2.0, "FEEDBACK_LEASE": 3.0, "HOUSEKEEPING_INTERVAL": 0})


def test_workers_share_one_stored_secret_key(home):
    apps = [create_app({"HOUSEKEEPING_INTERVAL": 0}) for _ in range(2)]
    try:
        keys = {app.config["SECRET_KEY"] for app in apps}
        assert len(keys) == 1 and len(keys.pop()) == 64
        assert (home / "website" / "secret_key").stat().st_mode & 0o077 == 0
        assert apps[0].config["DATABASE_URL"] == f"sqlite:///{home / 'website' / 'events.sqlite3'}"
    finally:
        for app in apps:
            app.extensions["funflix"].close()
