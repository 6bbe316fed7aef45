"""``funflix cluster``: a real single-node Kubernetes on this machine, and the images it runs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from funflix import paths


def default_root() -> Path:
    return paths.sub("k8s") / "cluster"


def register(subparsers) -> None:
    parser = subparsers.add_parser("cluster", help="a real single-node Kubernetes here (test cluster), and images",
                                   description="Start or stop a real single-node Kubernetes 1.20 on 127.0.0.1 "
                                               "(etcd, API server, controller-manager, scheduler, containerd, "
                                               "kubelet, kube-proxy, DNS), build its binaries and images.")
    parser.add_argument("--root", type=Path, default=None, help="cluster folder (default: $FUNFLIX_HOME/k8s/cluster)")
    commands = parser.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    commands.add_parser("binaries", help="build Kubernetes from Debian's source package once (cached)") \
        .set_defaults(func=_binaries_command)
    images_cmd = commands.add_parser("images", help="build the images (debootstrap base, buildah) into archives")
    images_cmd.add_argument("names", nargs="*", help="images to build (default: all)")
    images_cmd.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
    images_cmd.add_argument("--json", action="store_true", help="print one JSON document with sizes and times")
    images_cmd.set_defaults(func=_images_command)
    up_cmd = commands.add_parser("up", help="start the cluster and load the built images; print how to use it")
    up_cmd.add_argument("--no-images", action="store_true", help="do not import the built image archives")
    up_cmd.set_defaults(func=_up_command)
    commands.add_parser("down", help="stop the cluster and undo its changes to the host") \
        .set_defaults(func=_down_command)
    status_cmd = commands.add_parser("status", help="is a cluster running here, and where")
    status_cmd.add_argument("--json", action="store_true", help="print one JSON document")
    status_cmd.set_defaults(func=_status_command)


def _root(args) -> Path:
    return (args.root or default_root()).resolve()


def _binaries_command(args) -> int:
    from funflix.cluster import binaries

    binaries.build()
    return 0


def _images_command(args) -> int:
    from funflix.cluster import images

    names = args.names or list(images.IMAGES)
    built = {}
    for name in names:
        target = images.build(name, force=args.force)
        built[name] = json.loads(target.with_suffix(".json").read_text())
    if args.json:
        print(json.dumps(built, indent=2))
    return 0


def _up_command(args) -> int:
    from funflix.cli import UsageError
    from funflix.cluster import images
    from funflix.cluster.daemons import ClusterBusy
    from funflix.cluster.node import Cluster, ClusterUnavailable

    try:
        cluster = Cluster(_root(args)).start()
    except (ClusterUnavailable, ClusterBusy) as exc:
        raise UsageError(str(exc)) from exc
    if not args.no_images:
        for name in images.IMAGES:
            if images.archive(name).exists():
                print(f"loaded {', '.join(cluster.load_image(images.archive(name)))}", flush=True)
    print(f"\nexport KUBECONFIG={cluster.kubeconfig}\nkubectl get nodes\n"
          f"stop it with `make cluster-down` (or `funflix cluster down`)")
    return 0


def _down_command(args) -> int:
    from funflix.cluster.node import Cluster

    try:
        cluster = Cluster.attach(_root(args))
    except FileNotFoundError:
        print(f"no cluster state in {_root(args)}: nothing to stop")
        return 0
    cluster.stop()
    left = cluster.leftovers()
    if left:
        print("left behind:\n  " + "\n  ".join(left), file=sys.stderr)
        return 1
    return 0


def _status_command(args) -> int:
    from funflix.cluster.daemons import lock_holder
    from funflix.cluster.node import Cluster

    root = _root(args)
    try:
        cluster = Cluster.attach(root)
        status = {"root": str(root), "running": cluster.running(), "kubeconfig": str(cluster.kubeconfig),
                  "server": cluster.server, "daemons": {d.name: d.pid for d in cluster.state["daemons"]}}
    except FileNotFoundError:
        status = {"root": str(root), "running": False}
    status["lock_holder"] = lock_holder()
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        state = "running" if status["running"] else "not running"
        print(f"cluster in {root}: {state}" + (f"; KUBECONFIG={status['kubeconfig']}" if status["running"] else ""))
        if status["lock_holder"] and not status["running"]:
            print(f"another cluster on this machine holds the lock ({status['lock_holder']})")
    return 0
