"""The real test cluster as pytest fixtures (registered for the whole suite in tests/conftest.py).

- ``cluster`` (session): a started :class:`funflix.cluster.node.Cluster`: ``.kubeconfig`` (path), ``.server``,
  ``.kubectl(*args, input=None, check=True)``, ``.apply(*objects)``, ``.load_image(archive)``,
  ``.host_path_volume(name, size="1Gi", uid=None, gid=None)`` (a class-less hostPath PV; returns its folder),
  ``.wait_rollout("deployment/x", namespace)``. A machine that cannot run pods fails the test with what is missing.
- ``cluster_images`` (session): ``{"funflix-serving": "funflix-serving:0.1.0", ...}``, each built (unless up to
  date) and imported into the node's containerd; pods use them with ``imagePullPolicy: Never``.
- ``namespace`` (function): a fresh namespace, deleted afterwards.

Tests marked ``cluster_teardown`` run after every other test of the session (they stop the cluster).
"""

from __future__ import annotations

import os
import uuid

import pytest

from funflix.cluster import images
from funflix.cluster.node import Cluster, ClusterUnavailable

LOCK_TIMEOUT = float(os.environ.get("FUNFLIX_CLUSTER_LOCK_TIMEOUT", "1200"))


def pytest_collection_modifyitems(items):
    last = [item for item in items if item.get_closest_marker("cluster_teardown")]
    items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    node = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        node.start(lock_timeout=LOCK_TIMEOUT)
    except ClusterUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield node
    node.stop()


@pytest.fixture(scope="session")
def cluster_images(cluster):
    loaded = {}
    for name, spec in images.IMAGES.items():
        cluster.load_image(images.build(name))
        loaded[name] = spec.reference
    return loaded


@pytest.fixture()
def namespace(cluster):
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
