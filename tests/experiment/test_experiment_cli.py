"""``funflix plan`` and ``funflix analyze`` end to end, the event store being a real SQLite file."""

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from funflix.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("sides, expected", [("1", 925), ("2", 1124)])
def test_plan_prints_the_original_anchors(capsys, sides, expected):
    code, out, _ = run(capsys, "plan", "--baseline", "0.07", "--target", "0.11", "--power", "0.9", "--sides", sides,
                       "--json")
    data = json.loads(out)
    assert code == 0 and data["sample_sizes"][0] == {"method": "fleiss_cc", "control": expected,
                                                      "challenger": expected, "total": 2 * expected, "days": None}
    code, out, _ = run(capsys, "plan", "--baseline", "0.07", "--target", "0.11", "--sides", sides,
                       "--traffic-per-day", "925")
    assert code == 0 and f"{expected:,}" in out and "days" in out


def test_plan_duration_from_observed_traffic(capsys, impressions, tmp_path):
    impressions.to_csv(tmp_path / "imp.csv", index=False)  # 20,000 impressions over 3 days
    code, out, _ = run(capsys, "plan", "--baseline", "0.07", "--mde", "0.2", "--relative", "--csv",
                       str(tmp_path / "imp.csv"), "--json")
    data = json.loads(out)
    assert data["traffic_per_day"] == pytest.approx(20_000 / 3, rel=0.01)
    assert data["sample_sizes"][0]["days"] == pytest.approx(2 * 6351 / data["traffic_per_day"])
    code, out, _ = run(capsys, "plan", "--baseline", "0.07", "--target", "0.11", "--design-effect", "observed",
                       "--csv", str(tmp_path / "imp.csv"), "--json")
    data = json.loads(out)
    assert data["design_effect"] > 1.05  # users in the fixture repeat and differ in taste
    assert data["sample_sizes"][0]["control"] == int(np.ceil(924.17113 * data["design_effect"] - 1e-9))


def test_analyze_csv_json_and_report(capsys, impressions, tmp_path, funflix_home):
    impressions.to_csv(tmp_path / "imp.csv", index=False)
    code, out, _ = run(capsys, "analyze", "--csv", str(tmp_path / "imp.csv"), "--json", "--report")
    data = json.loads(out)
    assert code == 0 and data["verdict"]["decision"] == "ship"
    report = data["report"]
    assert report.startswith(str(funflix_home / "reports")) and open(report).read().count("<svg") == 4
    code, out, _ = run(capsys, "analyze", "--csv", str(tmp_path / "imp.csv"))
    assert code == 0 and "VERDICT: ship (challenger)" in out
    code, out, _ = run(capsys, "analyze", "--csv", str(tmp_path / "imp.csv"), "--decision", "fixed",
                       "--planned-per-arm", "20000", "--alternative", "greater", "--json")
    verdict = json.loads(out)["verdict"]
    assert verdict["decision"] == "keep running" and verdict["rests_on"].startswith("user-level")


def _fill_store(url, rng, n=1500, users=300):
    from funflix.website import store

    engine = store.create_store_engine(url)
    store.migrate(engine)
    start = datetime(2026, 11, 20, tzinfo=timezone.utc)
    with engine.connect() as conn:
        for k in range(n):
            user = int(rng.integers(users))
            arm = "control" if user % 2 == 0 else "challenger"
            now = start + timedelta(minutes=k)
            store.record_impression(conn, impression_id=f"imp-{k}", user_id=user, items=[1, 2, 3], arm=arm,
                                    model_name=arm, model_version="v1", now=now)
            if rng.random() < (0.07 if arm == "control" else 0.2):
                store.record_click(conn, f"imp-{k}", user, 2, now=now + timedelta(seconds=5))
        store.record_impression(conn, impression_id="last-open", user_id=users + 1, items=[1, 2], arm="control",
                                now=start + timedelta(minutes=n))
        store.record_impression(conn, impression_id="fallback", user_id=999, items=[1], arm=None,
                                now=start + timedelta(minutes=n))
    engine.dispose()


def test_analyze_reads_the_real_event_store(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    _fill_store(url, np.random.default_rng(1))
    code, out, _ = run(capsys, "analyze", "--db-url", url, "--json")
    data = json.loads(out)
    assert code == 0 and sum(a["impressions"] for a in data["arms"]) == 1501  # the fallback row counts nowhere
    assert any("still open" in note for note in data["notes"])
    assert data["verdict"]["decision"] == "ship"
    assert {u["arm"]: u["users"] for u in data["user_level"]} == pytest.approx(
        {"control": 150, "challenger": 150}, abs=15)


@pytest.mark.parametrize("argv, message", [
    (["plan", "--baseline", "1.5", "--target", "0.1"], "--baseline"),
    (["plan", "--baseline", "abc", "--target", "0.1"], "not a number"),
    (["plan", "--target", "0.1"], "required: --baseline"),
    (["plan", "--baseline", "0.07", "--target", "0.07"], "no effect"),
    (["plan", "--baseline", "0.07", "--target", "0.11", "--mde", "0.01"], "not allowed with"),
    (["plan", "--baseline", "0.07", "--target", "0.11", "--sides", "3"], "--sides"),
    (["plan", "--baseline", "0.07", "--target", "0.11", "--traffic-per-day", "-5"], "traffic"),
    (["plan", "--baseline", "0.07", "--target", "0.11", "--design-effect", "observed"], "needs data"),
    (["plan", "--baseline", "0.07", "--target", "0.11", "--design-effect", "lots"], "'observed'"),
    (["analyze", "--csv", "/nonexistent/imp.csv"], "no such file"),
    (["analyze", "--csv", "BAD_CSV"], "missing column"),
    (["analyze", "--csv", "GOOD_CSV", "--control", "nobody"], "unknown control arm 'nobody'"),
    (["analyze", "--csv", "GOOD_CSV", "--alpha", "2"], "--alpha"),
    (["analyze", "--csv", "GOOD_CSV", "--split", "control=0.5,challenger"], "arm=share"),
    (["analyze", "--csv", "GOOD_CSV", "--mixture-sd", "0"], "mixture-sd"),
    (["analyze", "--db-url", "nosuchdialect://x"], "cannot read the event store"),
    (["analyze", "--csv", "GOOD_CSV", "--decision", "fixed"], "--decision fixed needs its plan: give --planned-per-arm"),
    (["analyze", "--csv", "GOOD_CSV", "--values", "/nonexistent/values.yaml"], "no experiment configuration at"),
    (["analyze", "--csv", "GOOD_CSV", "--values", "BAD_CSV"], "the experiment configuration is unusable"),
])
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, impressions, argv, message):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    impressions.head(100).to_csv(tmp_path / "good.csv", index=False)
    argv = [str(tmp_path / "bad.csv") if a == "BAD_CSV" else str(tmp_path / "good.csv") if a == "GOOD_CSV" else a
            for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own checks
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err, err


def test_public_api_resolves_and_the_cli_imports_light():
    import subprocess
    import sys

    import funflix.experiment as experiment

    assert all(getattr(experiment, name) is not None for name in experiment.__all__)
    code = ("import sys, funflix.experiment.cli; "
            "print(sorted(m for m in ('pandas', 'scipy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
