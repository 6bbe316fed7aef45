"""Fixtures of the chart tests: the helm binary (required, not skipped) and rendering helpers."""

from __future__ import annotations

import pytest

from funflix import k8s


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary; the tests fail (not skip) without it: the Makefile installs it."""
    try:
        return k8s.helm_binary()
    except FileNotFoundError as exc:
        pytest.fail(f"{exc}. The chart tests need helm {k8s.HELM_VERSION}.")


@pytest.fixture(scope="session")
def crd_schema():
    try:
        return k8s.seldon_schema()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def default_docs(helm) -> list[dict]:
    """The chart rendered with its own values.yaml."""
    return k8s.documents(k8s.render(k8s.load_values()))

