"""Fixtures of the serving tests: a real local stack (seldon-core-microservice processes and the
gateway) on free ports, over quick models trained once per session (``quick_models_root``), and a
python of the serving environment for the components' classes (``serving``)."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from funflix.serving.processes import free_port_block
from funflix.serving.stack import LocalStack

from .serving_python import ServingPython


def make_stack(home, models_root, **options) -> LocalStack:
    """A LocalStack on free ports (no website or Prometheus unless asked)."""
    ports = free_port_block(8)
    settings = dict(home=home, models_root=models_root, gateway_port=ports, website_port=ports + 1,
                    prometheus_port=ports + 2, component_port=ports + 3, metrics_port=free_port_block(3),
                    website=False, prometheus=False)
    settings.update(options)
    return LocalStack(**settings)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, quick_models_root):
    """The router, both arms and the gateway as real processes, shared by a test module."""
    with make_stack(tmp_path_factory.mktemp("serving-home"), quick_models_root, prometheus=True) as running:
        yield running


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


def counters(metrics_url: str) -> dict[tuple[str, str], float]:
    """``{(metric, arm): value}`` of a component's funflix counters, summed over workers (and reasons)."""
    totals: dict[tuple[str, str], float] = {}
    text = requests.get(metrics_url, timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("funflix_") and sample.name.endswith("_total"):
                key = (sample.name, sample.labels.get("arm", ""))
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def all_counters(stack: LocalStack) -> dict[tuple[str, str], float]:
    found = {}
    for component in stack.arms:
        found.update(counters(component.metrics_url))
    return found


@pytest.fixture()
def read_counters():
    """``read_counters(stack)``: every arm's funflix counters, ``{(metric, arm): value}``."""
    return all_counters


@pytest.fixture(scope="module")
def serving_worker():
    """One python process of the serving environment per module (it imports seldon_core once)."""
    with ServingPython() as worker:
        yield worker


def sticky_arms(serving: ServingPython, config, users) -> list[int]:
    """The child index the experiment's router (an ABRouter built from ``config``, in the serving
    environment) picks for each user."""
    return serving.run("""
from funflix.serving.ABRouter import ABRouter
router = ABRouter(mode=mode, split=split, salt=salt)
result = [router.route({"user_id": user}, []) for user in users]
""", mode=config.routing, split=",".join(map(str, config.splits)), salt=config.salt, users=list(users))


@pytest.fixture()
def serving(serving_worker) -> ServingPython:
    """The module's serving worker with an empty namespace: ``serving.run(source, **values)``."""
    serving_worker.reset()
    return serving_worker
