"""Stopping the session's cluster leaves no process, mount, bridge, iptables rule, netns, cgroup, pod log or
changed kernel setting behind (runs after every other test: it ends the cluster)."""

from __future__ import annotations

import pytest

from funflix.cluster import host

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.mark.cluster_teardown
def test_teardown_leaves_the_host_as_it_was(cluster):
    recorded = dict(cluster.state["sysctls"])
    assert host.bridge_exists()
    assert host.cluster_iptables_rules(), "kube-proxy's chains should exist while the cluster runs"
    assert cluster.leftovers(), "a running cluster must show up as leftovers (else the check proves nothing)"
    cluster.stop()
    assert cluster.leftovers() == []
    assert host.read_sysctls() == recorded
