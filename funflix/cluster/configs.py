"""The configuration files of one cluster: containerd, the CNI network, the kubelet, kubeconfigs."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from funflix.cluster.host import BRIDGE

POD_SUBNET = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_RANGE = "10.96.0.0/24"
CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = "funflix.local/pause:3.4.1"
CNI_BIN_DIR = "/usr/lib/cni"
NODE_NAME = "localhost"


def containerd_config(root: Path) -> str:
    """containerd with private root/state/socket, the CRI plugin on runc (cgroupfs) and our CNI files.

    ``restrict_oom_score_adj`` is required here: the sandbox lacks CAP_SYS_RESOURCE, and without it every
    pod sandbox fails in runc with "can't get final child's PID from pipe".
    """
    base = root / "containerd"
    return f"""version = 2
root = "{base / 'root'}"
state = "{base / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "{base / 'containerd.sock'}"

[ttrpc]
  address = "{base / 'containerd.sock.ttrpc'}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{base / 'opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{base / 'runc'}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{root / 'cni' / 'net.d'}"
"""


def cni_conflist(root: Path) -> str:
    """A bridge network (gateway, masquerade, hairpin so a pod reaches its own Service) plus portmap and lo."""
    network = {
        "cniVersion": "0.4.0",
        "name": "funflix",
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(root / "cni" / "ipam"),
                      "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }
    return json.dumps(network, indent=2)


def kubelet_config(port: int, healthz_port: int) -> str:
    """KubeletConfiguration for one node on 127.0.0.1, DNS at the bridge gateway, no eviction or image GC.

    Image GC is off in effect (100%): the images were imported, none can be pulled back.
    """
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "enforceNodeAllocatable": [],
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "clusterDNS": [POD_GATEWAY],
        "clusterDomain": CLUSTER_DOMAIN,
        "serializeImagePulls": False,
        "maxPods": 60,
    }
    return yaml.safe_dump(config)


def kubeconfig(server: str, ca_file: Path, token: str) -> str:
    """A kubeconfig for the admin user (token auth, the API server's self-signed CA)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "funflix", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "funflix", "context": {"cluster": "funflix", "user": "admin", "namespace": "default"}}],
        "current-context": "funflix",
    }
    return yaml.safe_dump(config)


def host_path_volume(name: str, path: Path, size: str) -> dict:
    """A class-less hostPath PersistentVolume: a PVC without a StorageClass binds it at once."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"funflix.io/test-volume": name}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": str(path), "type": "Directory"},
        },
    }
