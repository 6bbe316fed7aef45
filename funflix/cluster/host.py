"""What a running cluster changes on the host, recorded before start and put back at teardown.

The kubelet rewrites kernel settings at every start, kube-proxy and the CNI plugins add iptables chains,
the pod network is a bridge, the kubelet and containerd leave mounts, and pods leave cgroups. Each function
here undoes one of them; :func:`leftovers` lists whatever is still there (the tests assert it is empty).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

BRIDGE = "funflix0"
# The kubelet's kernel tunables (kubelet/cm setupKernelTunables), kube-proxy's route_localnet,
# the bridge plugin's ip_forward, the bridge netfilter switches, and conntrack sizes kube-proxy could touch.
SYSCTLS = (
    "kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory", "vm.panic_on_oom",
    "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
    "net.ipv4.conf.all.route_localnet", "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max", "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
)
CLUSTER_CHAIN = re.compile(r"^:(KUBE|CNI)-|-A (KUBE|CNI)-|-j (KUBE|CNI)-")
CGROUP_ROOT = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/var/run/netns")
POD_LOG_DIRS = (Path("/var/log/pods"), Path("/var/log/containers"))


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    """The current value of every setting in :data:`SYSCTLS` that this kernel has."""
    values = {}
    for name in SYSCTLS:
        path = _sysctl_path(name)
        if path.exists():
            values[name] = path.read_text().strip()
    return values


def restore_sysctls(recorded: dict[str, str]) -> None:
    """Write back every recorded setting that differs now."""
    current = read_sysctls()
    for name, value in recorded.items():
        if current.get(name) != value:
            _sysctl_path(name).write_text(value + "\n")


def _iptables_tools() -> list[tuple[str, str]]:
    return [(save, restore) for save, restore in (("iptables-save", "iptables-restore"),
                                                  ("ip6tables-save", "ip6tables-restore"))
            if subprocess.run(["which", save], capture_output=True).returncode == 0]


def cluster_iptables_rules() -> list[str]:
    """Rules and chains the kubelet, kube-proxy or the CNI plugins added (KUBE-*, CNI-*), IPv4 and IPv6."""
    rules = []
    for save, _ in _iptables_tools():
        dump = subprocess.run([save], capture_output=True, text=True).stdout
        rules += [line for line in dump.splitlines() if CLUSTER_CHAIN.search(line)]
    return rules


def remove_iptables_rules() -> None:
    """Drop every KUBE-*/CNI-* chain and every rule that jumps to one, in every table."""
    for save, restore in _iptables_tools():
        dump = subprocess.run([save], capture_output=True, text=True, check=True).stdout
        kept = "\n".join(line for line in dump.splitlines() if not CLUSTER_CHAIN.search(line)) + "\n"
        subprocess.run([restore], input=kept, text=True, check=True)


def create_bridge(address: str) -> None:
    """The pod bridge, made before the kubelet so DNS can listen on its gateway address."""
    delete_bridge()
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", address, "dev", BRIDGE], check=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)


def bridge_exists() -> bool:
    return Path("/sys/class/net", BRIDGE).exists()


def delete_bridge() -> None:
    if bridge_exists():
        subprocess.run(["ip", "link", "delete", BRIDGE], check=True)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (deepest first), from /proc/self/mountinfo."""
    root_text = str(root.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == root_text or point.startswith(root_text + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def unmount_under(root: Path) -> None:
    """Unmount everything below ``root``; the kubelet bind-mounts its root onto itself, so loop until none."""
    for _ in range(5):
        points = mounts_under(root)
        if not points:
            return
        for point in points:
            subprocess.run(["umount", point], capture_output=True)
    for point in mounts_under(root):
        subprocess.run(["umount", "-l", point], capture_output=True)


def cni_namespaces() -> list[str]:
    """Network namespaces the CNI plugins made for pods (``/var/run/netns/cni-*``)."""
    return sorted(p.name for p in NETNS_DIR.glob("cni-*")) if NETNS_DIR.is_dir() else []


def remove_cni_namespaces() -> None:
    for name in cni_namespaces():
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def pod_cgroups() -> list[Path]:
    """The kubelet's ``kubepods`` cgroups in every hierarchy (cgroup v1 and v2)."""
    return sorted({*CGROUP_ROOT.glob("*/kubepods"), *CGROUP_ROOT.glob("kubepods")})


def remove_pod_cgroups() -> None:
    """rmdir the ``kubepods`` trees depth-first (a cgroup directory holds no files one can delete)."""
    for top in pod_cgroups():
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                directory.rmdir()
            except OSError:
                pass
        try:
            top.rmdir()
        except OSError:
            pass


def pod_log_entries() -> set[str]:
    """The kubelet writes pod logs under /var/log/pods and /var/log/containers, whatever its root dir."""
    return {str(p) for folder in POD_LOG_DIRS if folder.is_dir() for p in folder.iterdir()} | \
        {str(folder) for folder in POD_LOG_DIRS if folder.exists()}


def remove_pod_logs(before: set[str]) -> None:
    """Delete the log entries that were not there before the cluster started (folders last)."""
    for entry in sorted(pod_log_entries() - before, key=len, reverse=True):
        path = Path(entry)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def leftovers(root: Path, sysctls: dict[str, str], logs_before: set[str]) -> list[str]:
    """Everything a cluster rooted at ``root`` may leave behind and did: empty means the host is as before."""
    found = []
    if bridge_exists():
        found.append(f"bridge {BRIDGE}")
    found += [f"mount {p}" for p in mounts_under(root)]
    found += [f"iptables {rule}" for rule in cluster_iptables_rules()]
    found += [f"netns {name}" for name in cni_namespaces()]
    found += [f"cgroup {p}" for p in pod_cgroups()]
    now = read_sysctls()
    found += [f"sysctl {k}={now.get(k)} (was {v})" for k, v in sysctls.items() if now.get(k) != v]
    found += [f"pod log {p}" for p in sorted(pod_log_entries() - logs_before)]
    return found


def is_root() -> bool:
    return os.geteuid() == 0
