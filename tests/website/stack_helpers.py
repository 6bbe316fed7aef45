"""Helpers for tests on the real local stack: ports, component credits, polling."""

from __future__ import annotations

import re
import time

import requests

from funflix.serving.processes import free_port_block


def stack_ports() -> dict:
    """Ports for a LocalStack on a free block (gateway, website, 3 components, 3 metrics ports)."""
    base = free_port_block(8)
    return {"gateway_port": base, "website_port": base + 1, "component_port": base + 2, "metrics_port": base + 5}


def arm_credits(stack, arm: str) -> tuple[float, float]:
    """``(impressions, clicks)`` the arm's component has credited (its ledger's counters)."""
    text = requests.get(stack.component(arm).ledger_metrics_url, timeout=5).text

    def total(name):
        return sum(float(v) for v in re.findall(rf'^{name}_total{{[^}}]*arm="{arm}"[^}}]*}} (\S+)$', text, re.M))

    return total("funflix_impressions"), total("funflix_clicks")


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()
