"""The cluster's guard rails: what is missing is named, one cluster at a time, DNS names from Services."""

from __future__ import annotations

import pytest

from funflix.cluster import dns, preflight
from funflix.cluster.daemons import ClusterBusy
from funflix.cluster.node import Cluster, ClusterUnavailable


def test_a_machine_without_the_tools_is_told_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ClusterUnavailable) as raised:
        Cluster(tmp_path / "cluster").start(lock_timeout=0)
    message = str(raised.value)
    for package in ("containerd", "runc", "iptables", "conntrack", "dnsmasq-base", "kubernetes-client"):
        assert f"Debian package {package}" in message
    assert not (tmp_path / "cluster" / "state.json").exists()


def test_missing_kubernetes_binaries_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNFLIX_K8S_BIN", str(tmp_path))
    assert any("Kubernetes binaries kube-apiserver" in line and "make k8s-binaries" in line
               for line in preflight.missing())


@pytest.mark.cluster
def test_a_second_cluster_is_refused_while_one_runs(cluster, tmp_path):
    with pytest.raises(ClusterBusy, match="funflix-cluster.lock"):
        Cluster(tmp_path).start(lock_timeout=0)
    assert cluster.running()


def test_services_become_hosts_lines_headless_ones_per_ready_endpoint():
    services = [
        {"metadata": {"name": "web", "namespace": "shop"}, "spec": {"clusterIP": "10.96.0.7"}},
        {"metadata": {"name": "db-hl", "namespace": "shop"}, "spec": {"clusterIP": "None"}},
    ]
    endpoints = [
        {"metadata": {"name": "web", "namespace": "shop"}, "subsets": [{"addresses": [{"ip": "10.244.0.9"}]}]},
        {"metadata": {"name": "db-hl", "namespace": "shop"},
         "subsets": [{"addresses": [{"ip": "10.244.0.5", "hostname": "db-0"}],
                      "notReadyAddresses": [{"ip": "10.244.0.6"}]}]},
    ]
    assert dns.hosts_lines(services, endpoints) == [
        "10.244.0.5 db-0.db-hl.shop.svc.cluster.local",
        "10.244.0.5 db-hl.shop.svc.cluster.local",
        "10.96.0.7 web.shop.svc.cluster.local",
    ]
