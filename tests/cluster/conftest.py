"""One Helm release of the chart per test module, on the real test cluster.

A module names its release in ``RELEASE`` and may add values in ``EXTRA_VALUES``; it gets
``chart_namespace`` (fresh, deleted afterwards), ``values`` (:func:`chart_release.release_values` plus its
extra values), ``release`` (installed with ``helm install --wait``), ``store`` (the release's PostgreSQL) and
``prometheus`` (an outside Prometheus scraping the namespace's pods, with the chart's recording rules).
"""

from __future__ import annotations

import uuid

import pytest

from funflix import k8s

from .chart_release import (POSTGRES_UID, EventStore, OutsidePrometheus, Release, movielens_claim,
                            release_values)


@pytest.fixture(scope="module")
def chart_namespace(request, cluster):
    name = f"{request.module.RELEASE}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def values(request, cluster, cluster_images, chart_namespace, movielens_dir) -> dict:
    claim = movielens_claim(cluster, chart_namespace, movielens_dir)
    cluster.host_path_volume(f"pg-{chart_namespace}", size="1Gi", uid=POSTGRES_UID, gid=POSTGRES_UID)
    return k8s.merge_values(release_values(cluster_images, claim), getattr(request.module, "EXTRA_VALUES", {}))


@pytest.fixture(scope="module")
def release(request, cluster, chart_namespace, values, tmp_path_factory):
    release = Release(cluster, chart_namespace, request.module.RELEASE, tmp_path_factory.mktemp("release"))
    release.install_seconds = release.install(values)
    print(f"\nhelm install --wait to all pods Ready: {release.install_seconds:.1f} s", flush=True)
    return release


@pytest.fixture(scope="module")
def store(release):
    events = EventStore(release.database_url())
    yield events
    events.dispose()


@pytest.fixture(scope="module")
def prometheus(cluster, release, values, tmp_path_factory):
    rendered = k8s.documents(k8s.render(k8s.merge_values(values, {"metrics": {"prometheusRule": {"enabled": True}}}),
                                        release=release.name, namespace=release.namespace))
    rules = next(d for d in rendered if d["kind"] == "PrometheusRule")["spec"]
    outside = OutsidePrometheus(cluster, release.namespace, tmp_path_factory.mktemp("prometheus"), rules).start()
    yield outside
    outside.stop()
