"""The site's /experiment page and `funflix analyze` read one event store the same way, under every
routing mode; without a usable experiment configuration both say so instead of assuming a split."""

import json
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import yaml

from funflix import paths
from funflix.cli import main
from funflix.website import store


def write_values(folder, routing, split=(0.7, 0.3)):
    values = yaml.safe_load((paths.REPO_ROOT / "charts" / "funflix" / "values.yaml").read_text())
    values["experiment"]["routing"] = routing
    for arm, share in zip(values["experiment"]["arms"], split):
        arm["split"] = share
    path = folder / f"values-{routing}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def fill_store(url, routing, n=3000, users=400, seed=5, experiment_id=None):
    """Impressions of experiment ``experiment_id`` as the router would split them 70/30: by user
    (sticky) or by request (random, thompson: users see both arms); the challenger earns more clicks."""
    rng = np.random.default_rng(seed)
    engine = store.create_store_engine(url)
    store.migrate(engine)
    start = datetime(2026, 11, 20, tzinfo=timezone.utc)
    sticky_arm = {u: "control" if rng.random() < 0.7 else "challenger" for u in range(users)}
    prefix = "imp" if experiment_id else "untagged"
    with engine.connect() as conn:
        for k in range(n):
            user = int(rng.integers(users))
            arm = sticky_arm[user] if routing == "sticky" else "control" if rng.random() < 0.7 else "challenger"
            now = start + timedelta(seconds=30 * k)
            store.record_impression(conn, impression_id=f"{prefix}-{k}", user_id=user, items=[1, 2, 3], arm=arm,
                                    visit=f"visit-{user}-{k // 50}", experiment_id=experiment_id, now=now)
            if rng.random() < (0.06 if arm == "control" else 0.16):
                store.record_click(conn, f"{prefix}-{k}", user, 2, now=now + timedelta(seconds=5))
    engine.dispose()


def page_verdict(app) -> tuple[int, dict]:
    response = app.test_client().get("/experiment")
    html = response.get_data(as_text=True)
    verdict = re.search(r'data-testid="verdict" data-decision="([^"]+)" data-rests-on="([^"]+)"', html)
    mismatch = re.search(r'data-testid="srm" data-mismatch="(true|false)"', html)
    return response.status_code, {"decision": verdict.group(1), "rests_on": verdict.group(2),
                                  "srm_mismatch": mismatch.group(1) == "true", "html": html}


def cli_verdict(capsys, url, values) -> dict:
    code = main(["analyze", "--db-url", url, "--values", str(values), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    return {"decision": data["verdict"]["decision"], "rests_on": data["verdict"]["rests_on"],
            "srm_mismatch": data["srm"]["mismatch"], "reason": data["verdict"]["reason"],
            "impressions": sum(a["impressions"] for a in data["arms"]), "experiment": data["experiment"]}


@pytest.mark.parametrize("routing", ["sticky", "random", "thompson"])
def test_the_page_and_the_cli_give_one_verdict(make_app, capsys, tmp_path, routing):
    url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    values = write_values(tmp_path, routing)
    app = make_app(DATABASE_URL=url, EXPERIMENT_VALUES=str(values))  # registers the experiment it serves
    fill_store(url, routing, n=200, seed=9)  # rows of no experiment: neither the page nor the CLI counts them
    fill_store(url, routing, experiment_id=app.extensions["funflix"].experiment_id)
    status, page = page_verdict(app)
    cli = cli_verdict(capsys, url, values)
    assert status == 200
    assert cli["impressions"] == 3000 and cli["experiment"]["id"] == app.extensions["funflix"].experiment_id
    assert (page["decision"], page["rests_on"], page["srm_mismatch"]) == (cli["decision"], cli["rests_on"],
                                                                          cli["srm_mismatch"])
    assert cli["reason"].replace("'", "&#39;") in page["html"]
    # a 70/30 split of the randomisation unit is what was configured: no false sample-ratio mismatch
    assert not cli["srm_mismatch"] and cli["decision"] == "ship"


def test_a_missing_or_broken_experiment_config_is_shown_not_replaced(make_app, capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    broken = tmp_path / "broken.yaml"
    broken.write_text("experiment: {name: x, salt: y, routing: sideways, arms: []}\n")
    for values, message in ((tmp_path / "missing.yaml", "no experiment configuration at"),
                            (broken, "routing must be one of")):
        with pytest.raises(ValueError, match="experiment configuration: "):  # no site starts on it
            make_app(DATABASE_URL=url, EXPERIMENT_VALUES=str(values))
        assert main(["analyze", "--db-url", url, "--values", str(values)]) == 2
        assert message in capsys.readouterr().err
    # a site started on a good values file says so when the file then goes missing or breaks
    served = write_values(tmp_path, "sticky")
    app = make_app(DATABASE_URL=url, EXPERIMENT_VALUES=str(served))
    fill_store(url, "sticky", n=200, experiment_id=app.extensions["funflix"].experiment_id)
    for change, message in ((served.unlink, "no experiment configuration at"),
                            (lambda: served.write_text(broken.read_text()), "routing must be one of")):
        change()
        response = app.test_client().get("/experiment")
        html = response.get_data(as_text=True)
        assert response.status_code == 503 and 'data-testid="config-error"' in html and message in html
        assert 'data-testid="verdict"' not in html
