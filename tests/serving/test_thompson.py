"""A Thompson-sampling router behind the gateway learns from the feedback the gateway forwards."""

from __future__ import annotations

import pytest
import requests
import yaml

from funflix.serving.experiment_config import VALUES_FILE

from .conftest import make_stack

pytestmark = pytest.mark.slow


def test_the_bandit_moves_traffic_to_the_arm_that_gets_clicks(tmp_path, quick_models_root):
    values = yaml.safe_load(VALUES_FILE.read_text())
    values["experiment"]["routing"] = "thompson"
    config = tmp_path / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    http = requests.Session()
    with make_stack(tmp_path / "home", quick_models_root, config_path=config) as stack:
        url = stack.gateway_url
        for user_id in range(60):
            served = http.post(f"{url}/api/v1.0/predictions", json={"jsonData": {"user_id": user_id}},
                               timeout=10).json()
            reward = 1 if served["meta"]["tags"]["arm"] == "challenger" else 0
            assert http.post(f"{url}/api/v1.0/feedback", json={"response": served, "reward": reward},
                             timeout=10).status_code == 200
        later = [http.post(f"{url}/api/v1.0/predictions", json={"jsonData": {"user_id": 1}}, timeout=10)
                 .json()["meta"]["tags"]["arm"] for _ in range(40)]
    assert later.count("challenger") >= 36  # Beta(1+clicks, 1) against Beta(1, 1+misses)
