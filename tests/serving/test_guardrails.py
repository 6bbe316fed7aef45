"""The watch's guardrails read from a real Prometheus scraping the real local stack's gateway."""

from __future__ import annotations

import time

from funflix.k8s.watch import check_guardrails, guardrails


def traffic(http, stack, users) -> None:
    """Predictions, and refused requests (a 4xx is no error of the service)."""
    for user in users:
        assert http.post(f"{stack.gateway_url}/api/v1.0/predictions", json={"jsonData": {"user_id": user}},
                         timeout=10).status_code == 200
        http.post(f"{stack.gateway_url}/api/v1.0/predictions", json={"jsonData": {"user_id": -user}}, timeout=10)


def test_guardrails_pass_within_bounds_and_fail_past_them(http, stack):
    strict = guardrails(max_error_rate=0.05, max_p99_seconds=1e-6, max_fallback_share=0.05)
    deadline, verdict, users = time.monotonic() + 90, (True, ""), iter(range(1, 10_000))
    while verdict[0] and time.monotonic() < deadline:  # traffic across scrapes, until rates exist
        traffic(http, stack, [next(users) for _ in range(10)])
        time.sleep(1)
        verdict = check_guardrails(stack.prometheus_url, strict)
    assert verdict[0] is False and verdict[1].startswith("gateway p99 latency (s) ")
    assert "error rate" not in verdict[1] and "fallback" not in verdict[1]  # no 5xx; no website here
    assert check_guardrails(stack.prometheus_url, guardrails(max_p99_seconds=10.0)) == (True, "")
    assert check_guardrails(None, strict) == (True, "guardrails not checked (no --prometheus-url)")
