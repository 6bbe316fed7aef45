"""The dashboard as code: rendered files up to date, well-formed panels, arms looped from the values file,
and every query valid PromQL for promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from funflix.serving.experiment_config import VALUES_FILE, load_experiment

from .conftest import GRAFANA_DIR, load_builder, substitute

COMPONENT_METRIC = re.compile(r"(funflix_(?:recommendations|impressions|clicks|feedback_ignored)_total"
                              r"|funflix_predict_seconds_(?:bucket|sum|count))(\{[^}]*\})?")


def _values_with_arms(tmp_path, arms: list[dict]):
    document = yaml.safe_load(VALUES_FILE.read_text())
    document["experiment"]["arms"] = arms
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("output", load_builder().OUTPUTS, ids=lambda p: str(p.relative_to(GRAFANA_DIR.parent)))
def test_committed_dashboard_equals_a_fresh_render(builder, output):
    assert output.is_file(), f"{output} is missing: run grafana/main.py"
    assert output.read_text() == builder.render(), f"{output} is stale: run grafana/main.py"


def test_check_mode_flags_a_stale_file_and_writing_fixes_it(builder, tmp_path, monkeypatch, capsys):
    outputs = (tmp_path / "a" / "funflix.json", tmp_path / "b" / "funflix.json")
    monkeypatch.setattr(builder, "OUTPUTS", outputs)
    monkeypatch.setattr(builder, "ROOT", tmp_path)
    assert builder.main(["--check"]) == 1
    assert "a/funflix.json is stale" in capsys.readouterr().err
    assert builder.main([]) == 0
    assert builder.main(["--check"]) == 0
    outputs[1].write_text(outputs[1].read_text().replace('"uid": "funflix-ab-test"', '"uid": "edited"'))
    assert builder.main(["--check"]) == 1


def test_out_renders_another_values_file_without_touching_the_committed_files(builder, tmp_path):
    committed = [path.read_text() for path in builder.OUTPUTS]
    values = _values_with_arms(tmp_path, [{"name": "control", "split": 0.7}, {"name": "new-model", "split": 0.3}])
    out = tmp_path / "build" / "funflix.json"
    assert builder.main(["--values", str(values), "--out", str(out)]) == 0
    board = json.loads(out.read_text())
    assert any('model_name="new-model"' in t["expr"] for p in board["panels"] for t in p.get("targets", []))
    assert builder.main(["--values", str(values), "--out", str(out), "--check"]) == 0
    assert builder.main(["--out", str(out), "--check"]) == 1
    assert [path.read_text() for path in builder.OUTPUTS] == committed


def test_json_decodes_into_the_sdk_models_unchanged(board, builder):
    """Grafana's schema as the SDK types it: a misspelt option or a wrong type would not survive."""
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()
    decoded = Dashboard.from_json(board)
    assert json.loads(builder.JSONEncoder().encode(decoded)) == board
    assert {type(p.options).__module__.rsplit(".", 1)[-1] for p in decoded.panels if hasattr(p, "options")} \
        == {"stat", "timeseries"}


def test_json_is_sorted_and_has_fixed_uid_and_datasource_variable(board, builder):
    text = builder.render()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert board["uid"] == "funflix-ab-test"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert set(variables) == {"datasource", "deployment", "window"}


def test_panels_have_unique_ids_datasource_refids_and_do_not_overlap(board):
    panels = board["panels"]
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    cells = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        covered = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                   for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["description"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]
    titles = [p["title"] for p in panels]
    assert len(set(titles)) == len(titles)


def _sum_spans(expr: str, aggregations: str = "sum|max") -> list[tuple[int, int]]:
    """Character spans of the arguments of every ``sum(...)`` / ``sum by (...) (...)`` (or another of
    ``aggregations``) in ``expr``."""
    spans = []
    for match in re.finditer(rf"\b(?:{aggregations})\s*(?:by\s*\([^)]*\)\s*)?\(", expr):
        depth, start = 1, match.end()
        for end in range(start, len(expr)):
            depth += {"(": 1, ")": -1}.get(expr[end], 0)
            if depth == 0:
                spans.append((start, end))
                break
    return spans


def test_every_component_series_is_filtered_by_deployment_and_arm_and_summed(targets):
    seen = 0
    for target in targets:
        spans = _sum_spans(target.expr)
        for match in COMPONENT_METRIC.finditer(target.expr):
            seen += 1
            matchers = match.group(2) or ""
            assert 'deployment_name=~"$deployment"' in matchers, target.name
            assert "model_name=" in matchers, target.name
            # aggregated (summed; the ledger's arm totals: max), so workers, replicas and the predict/feedback
            # series of one counter never show up separately
            assert any(a <= match.start() < b for a, b in spans), f"{target.name}: {match.group(1)} is not summed"
    assert seen > 20


def test_ledger_counters_are_taken_once_per_arm_not_summed_over_replicas(targets):
    """Every replica of an arm reports the arm's ledger totals: a sum over pods would count them twice."""
    seen = 0
    for target in targets:
        innermost = sorted(_sum_spans(target.expr, "sum") + _sum_spans(target.expr, "max"), key=lambda s: s[1] - s[0])
        maxes = set(_sum_spans(target.expr, "max"))
        for match in re.finditer(r"funflix_(impressions|clicks|feedback_ignored)_total", target.expr):
            seen += 1
            enclosing = next(span for span in innermost if span[0] <= match.start() < span[1])
            assert enclosing in maxes, f"{target.name}: {match.group(0)} is summed over replicas"
    assert seen > 10


def test_sum_spans_finds_an_unsummed_selector():
    expr = 'sum by (model_name) (rate(funflix_clicks_total{a="b"}[1m])) / funflix_impressions_total{a="b"}'
    inside = [any(a <= m.start() < b for a, b in _sum_spans(expr)) for m in COMPONENT_METRIC.finditer(expr)]
    assert inside == [True, False]


def test_arm_panels_loop_over_the_configured_arms(tmp_path, builder):
    arms = [{"name": "control", "split": 0.5}, {"name": "challenger", "split": 0.25}, {"name": "wide", "split": 0.25}]
    board = builder.build(load_experiment(_values_with_arms(tmp_path, arms)))
    board = json.loads(builder.JSONEncoder().encode(board))
    by_title = {p["title"]: p for p in board["panels"]}
    names = ["control", "challenger", "wide"]
    for title in ("Impressions", "Clicks", "CTR", "CTR per arm ($window window)", "Cumulative CTR per arm"):
        legends = [t["legendFormat"] for t in by_title[title]["targets"]]
        assert legends == names, title
        for target, arm in zip(by_title[title]["targets"], names):
            assert f'model_name="{arm}"' in target["expr"]
    for title in ("Lift vs control", "z vs control", "Lift vs control (cumulative)",
                  "Significance: z vs control (fixed-horizon)"):
        assert [t["legendFormat"] for t in by_title[title]["targets"]] == ["challenger", "wide"], title
    split = by_title["Traffic split ($window window)"]["targets"]
    assert [t["expr"] for t in split[3:]] == ["vector(0.5)", "vector(0.25)", "vector(0.25)"]
    assert 'model_name=~"control|challenger|wide"' in split[0]["expr"]
    assert len(by_title["Impressions and clicks per second"]["targets"]) == 6
    latency = [t["legendFormat"] for t in by_title["Top-k latency per arm (model component)"]["targets"]]
    assert latency == [f"{arm} {stat}" for arm in names for stat in ("mean", "p50", "p99")]


def test_adaptive_routing_drops_the_configured_split_lines(tmp_path, builder):
    path = _values_with_arms(tmp_path, [{"name": "control", "split": 0.5}, {"name": "challenger", "split": 0.5}])
    path.write_text(path.read_text().replace("routing: sticky", "routing: thompson"))
    board = json.loads(builder.JSONEncoder().encode(builder.build(load_experiment(path))))
    (split,) = [p for p in board["panels"] if p["title"] == "Traffic split ($window window)"]
    assert [t["legendFormat"] for t in split["targets"]] == ["control", "challenger"]
    assert "Thompson" in split["description"]


def test_a_values_file_without_a_control_arm_is_refused(tmp_path, builder):
    config = load_experiment(_values_with_arms(tmp_path, [{"name": "a", "split": 0.5}, {"name": "b", "split": 0.5}]))
    with pytest.raises(ValueError, match="control arm 'control'"):
        builder.build(config)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_every_query_is_valid_promql(targets, tmp_path):
    rules = [{"record": f"funflix:panel_query:{i}", "expr": substitute(t.expr, window="15m", rate_interval="1m",
                                                                       deployment="funflix-ab")}
             for i, t in enumerate(targets)]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout


def test_local_provisioning_points_at_the_local_stacks_prometheus():
    import inspect

    from funflix.serving.stack import SCRAPE_INTERVAL, LocalStack

    provisioning = GRAFANA_DIR / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"]
    port = inspect.signature(LocalStack).parameters["prometheus_port"].default
    assert source["type"] == "prometheus" and source["url"] == f"http://127.0.0.1:{port}"
    assert source["jsonData"]["timeInterval"] == SCRAPE_INTERVAL  # $__rate_interval spans >= 4 scrapes
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "funflix.yaml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards/funflix"
