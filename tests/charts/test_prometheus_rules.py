"""The chart's PrometheusRule: per-arm CTR and lift recording rules, checked with `promtool test rules`
on counter series with known counts (two replicas per arm reporting the arm's ledger totals, another
deployment that must not count)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from funflix import k8s

from .manifests import find

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
COUNTS = {  # arm: (impressions, clicks) after 10 minutes, one increment a minute
    "control": (160, 20),      # CTR 0.125
    "challenger": (160, 40),   # CTR 0.25, lift +100 %
}
REPLICAS = ("pod-a", "pod-b")  # each reports its arm's totals, read from the shared ledger


def series(deployment: str, arm: str, pod: str, metric: str, total: int) -> dict:
    labels = (f'deployment_name="{deployment}", model_name="{arm}", pod="{pod}", '
              f'namespace="shop", predictor_name="default"')
    return {"series": f"{metric}{{{labels}}}", "values": f"0+{total / 10:g}x10"}


def sample(record: str, arm: str, value: float, **extra: str) -> dict:
    labels = {"namespace": "shop", "deployment_name": "funflix", "model_name": arm, **extra}
    return {"labels": record + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "value": value}


def rules_test(lift: float) -> dict:
    inputs = [series(deployment, arm, pod, metric, counts[i])
              for deployment in ("funflix", "another-release")
              for arm, counts in COUNTS.items()
              for pod in REPLICAS
              for i, metric in enumerate(("funflix_impressions_total", "funflix_clicks_total"))]
    at = "10m"
    return {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": inputs,
        "promql_expr_test": [
            {"expr": "funflix:impressions:sum", "eval_time": at,
             "exp_samples": [sample("funflix:impressions:sum", "control", 160),
                             sample("funflix:impressions:sum", "challenger", 160)]},
            {"expr": "funflix:clicks:sum", "eval_time": at,
             "exp_samples": [sample("funflix:clicks:sum", "control", 20), sample("funflix:clicks:sum", "challenger", 40)]},
            {"expr": "funflix:ctr:ratio", "eval_time": at,
             "exp_samples": [sample("funflix:ctr:ratio", "control", 0.125), sample("funflix:ctr:ratio", "challenger", 0.25)]},
            {"expr": "funflix:ctr:ratio_rate5m", "eval_time": at,
             "exp_samples": [sample("funflix:ctr:ratio_rate5m", "control", 0.125),
                             sample("funflix:ctr:ratio_rate5m", "challenger", 0.25)]},
            {"expr": "funflix:ctr_lift:ratio", "eval_time": at,
             "exp_samples": [sample("funflix:ctr_lift:ratio", "challenger", lift, control="control")]},
        ]}]}


def promtool_test(tmp_path, rules: dict, lift: float) -> subprocess.CompletedProcess:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(rules_test(lift)))
    return subprocess.run([PROMTOOL, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def rules(helm) -> dict:
    docs = k8s.documents(k8s.render(k8s.load_values(sets=["metrics.prometheusRule.enabled=true"])))
    return find(docs, "PrometheusRule")["spec"]  # a plain Prometheus rule file


def test_rules_pass_promtool_check(tmp_path, rules):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    done = subprocess.run([PROMTOOL, "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def test_per_arm_ctr_and_lift_equal_the_known_counts(tmp_path, rules):
    done = promtool_test(tmp_path, rules, lift=1.0)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_a_wrong_expectation_fails(tmp_path, rules):
    done = promtool_test(tmp_path, rules, lift=0.9)
    assert done.returncode != 0
    assert "funflix:ctr_lift:ratio" in done.stdout + done.stderr


def test_rules_are_off_by_default_and_follow_the_control_arm(helm):
    assert not [d for d in k8s.documents(k8s.render(k8s.load_values())) if d["kind"] == "PrometheusRule"]
    docs = k8s.documents(k8s.render(k8s.load_values(sets=[
        "metrics.prometheusRule.enabled=true", "experiment.arms[0].name=baseline", "metrics.prometheusRule.window=2m"])))
    rules = {rule["record"]: rule for rule in find(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]}
    assert 'model_name!="baseline"' in rules["funflix:ctr_lift:ratio"]["expr"]
    assert rules["funflix:ctr_lift:ratio"]["labels"] == {"control": "baseline"}
    assert "[2m]" in rules["funflix:ctr:ratio_rate2m"]["expr"]
