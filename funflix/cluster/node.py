"""One real single-node Kubernetes 1.20 on 127.0.0.1: start, use, and stop without a trace.

``Cluster(root).start()`` brings up etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
containerd, the kubelet, kube-proxy (iptables) and a dnsmasq DNS fed from the API's Services, and writes
``<root>/kubeconfig``. ``stop()`` ends them by PID and undoes what they changed on the host (see
:mod:`funflix.cluster.host`). ``Cluster.attach(root)`` finds a running cluster again from its state file,
so ``make cluster`` and ``make cluster-down`` can be separate commands. One cluster runs at a time:
the machine-wide lock (:mod:`funflix.cluster.daemons`) is held while any of its processes lives.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from funflix.cluster import binaries, configs, daemons, host, images, preflight
from funflix.serving.processes import free_port_block

# Daemons in start order; stop goes the other way, except that the kubelet stops only after every pod is gone.
PORT_NAMES = ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kubelet", "kubelet_healthz",
              "proxy_metrics", "proxy_healthz")
DATA_DIRS = ("etcd", "containerd", "kubelet", "cni", "pki")


class ClusterUnavailable(RuntimeError):
    """This machine cannot run a cluster; the message names what is missing."""


class Cluster:
    """A cluster rooted at a folder that holds its configs, data, logs, state file and kubeconfig."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.state_file = self.root / "state.json"
        self.kubeconfig = self.root / "kubeconfig"
        self.logs = self.root / "logs"
        self.volumes = self.root / "volumes"
        self.containerd_socket = self.root / "containerd" / "containerd.sock"
        self.state: dict = {"daemons": []}
        self._lock_fd: int | None = None
        self._started = time.monotonic()

    # ---- lifecycle

    @classmethod
    def attach(cls, root: Path) -> "Cluster":
        """The cluster whose state file lies in ``root`` (raises FileNotFoundError when none)."""
        cluster = cls(root)
        cluster.state = daemons.load(cluster.state_file)
        return cluster

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.state['ports']['apiserver']}"

    def running(self) -> bool:
        return bool(self.state["daemons"]) and all(daemons.alive(d) for d in self.state["daemons"])

    def start(self, lock_timeout: float = 900.0) -> "Cluster":
        """Bring every part up and wait until the node is Ready; on any failure, tear down and raise."""
        problems = preflight.missing()
        if problems:
            raise ClusterUnavailable("this machine cannot run pods; missing: " + "; ".join(problems))
        if self.state_file.exists() and any(daemons.alive(d) for d in daemons.load(self.state_file)["daemons"]):
            raise ClusterUnavailable(f"a cluster from {self.root} already runs: `make cluster-down` first")
        self._lock_fd = daemons.acquire_lock(lock_timeout, f"waiting for {daemons.LOCK_PATH} (another cluster runs)",
                                             self.root)
        self._started = time.monotonic()
        try:
            self._prepare()
            self._start_control_plane()
            self._start_node()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self._say(f"ready; kubeconfig {self.kubeconfig}")
        return self

    def stop(self) -> None:
        """End every process by PID and leave the host as it was; safe to call twice or after a failed start."""
        self._started = time.monotonic()
        by_name = {d.name: d for d in self.state["daemons"]}
        for name in ("controller-manager", "scheduler"):
            if name in by_name:
                daemons.stop(by_name[name])
        if "apiserver" in by_name and daemons.alive(by_name["apiserver"]):
            self._delete_all_pods()
        for name in ("kubelet", "kube-proxy", "dns", "dnsmasq"):
            if name in by_name:
                daemons.stop(by_name[name])
        if "kube-proxy" in by_name:
            subprocess.run([str(binaries.bin_dir() / "kube-proxy"), "--cleanup"], capture_output=True, timeout=60)
        if "containerd" in by_name and daemons.alive(by_name["containerd"]):
            self._remove_containers()
        for name in ("containerd", "apiserver", "etcd"):
            if name in by_name:
                daemons.stop(by_name[name])
        self._kill_shims()
        host.remove_cni_namespaces()
        host.unmount_under(self.root)
        host.delete_bridge()
        host.remove_iptables_rules()
        host.remove_pod_cgroups()
        if "sysctls" in self.state:
            host.restore_sysctls(self.state["sysctls"])
        host.remove_pod_logs(set(self.state.get("pod_logs_before", [])))
        if self.state.get("dns_dir"):
            shutil.rmtree(self.state["dns_dir"], ignore_errors=True)
        if not host.mounts_under(self.root):  # never delete through a mount point
            for name in DATA_DIRS:
                shutil.rmtree(self.root / name, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)
        self.kubeconfig.unlink(missing_ok=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._say("stopped")

    def leftovers(self) -> list[str]:
        """What this cluster left on the host (empty after a clean stop)."""
        found = host.leftovers(self.root, self.state.get("sysctls", {}), set(self.state.get("pod_logs_before", [])))
        found += [f"process {d.name} (pid {d.pid})" for d in self.state["daemons"] if daemons.alive(d)]
        found += [f"containerd shim pid {pid}" for pid in self._shim_pids()]
        if self.state.get("dns_dir") and Path(self.state["dns_dir"]).exists():
            found.append(f"folder {self.state['dns_dir']}")
        return found

    # ---- use

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess:
        """Run kubectl against this cluster; raises RuntimeError with its stderr when ``check`` and it fails."""
        result = subprocess.run(["kubectl", f"--kubeconfig={self.kubeconfig}", *args], input=input,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def apply(self, *manifests: dict) -> None:
        """``kubectl apply`` of the given objects."""
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))

    def load_image(self, archive: Path) -> list[str]:
        """Import a docker-archive or OCI tarball into the node's containerd; returns the image names."""
        before = set(self.image_names())
        self._ctr("images", "import", str(archive), timeout=600)
        return sorted(set(self.image_names()) - before) or self._archive_names(archive)

    def image_names(self) -> list[str]:
        listing = self._ctr("images", "list", "-q").stdout
        return [line for line in listing.splitlines() if line and not line.startswith("sha256:")]

    def host_path_volume(self, name: str, size: str = "1Gi", uid: int | None = None, gid: int | None = None) -> Path:
        """A hostPath PersistentVolume ``name`` on a folder under ``<root>/volumes`` (owned by uid:gid for
        non-root pods); a class-less PVC binds it. Returns the folder, which outlives pods and restarts."""
        folder = self.volumes / name
        folder.mkdir(parents=True, exist_ok=True)
        if uid is not None or gid is not None:
            os.chown(folder, -1 if uid is None else uid, -1 if gid is None else gid)
        self.apply(configs.host_path_volume(name, folder, size))
        return folder

    def wait_rollout(self, kind_name: str, namespace: str = "default", timeout: int = 180) -> None:
        self.kubectl("rollout", "status", kind_name, "-n", namespace, f"--timeout={timeout}s", timeout=timeout + 10)

    # ---- start steps

    def _say(self, message: str) -> None:
        print(f"[cluster {time.monotonic() - self._started:5.1f}s] {message}", flush=True)

    def _save(self) -> None:
        daemons.save(self.state_file, self.state)

    def _daemon(self, name: str, argv: list[str]) -> daemons.Daemon:
        daemon = daemons.start(name, argv, self.logs, self._lock_fd)
        self.state["daemons"].append(daemon)
        self._save()
        return daemon

    def _prepare(self) -> None:
        if self.state_file.exists():
            stale = Cluster.attach(self.root)
            self._say("cleaning up after a cluster here that did not stop (restoring its recorded settings)")
            stale.stop()
        for name in DATA_DIRS:
            shutil.rmtree(self.root / name, ignore_errors=True)
        for folder in (self.logs, self.volumes, self.root / "pki", self.root / "cni" / "net.d",
                       self.root / "containerd", self.root / "kubelet"):
            folder.mkdir(parents=True, exist_ok=True)
        base = free_port_block(len(PORT_NAMES))
        self.state = {
            "daemons": [],
            "ports": {name: base + i for i, name in enumerate(PORT_NAMES)},
            "sysctls": host.read_sysctls(),
            "pod_logs_before": sorted(host.pod_log_entries()),
        }
        self._save()
        pki = self.root / "pki"
        subprocess.run(["openssl", "genrsa", "-out", str(pki / "sa.key"), "2048"], check=True, capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub")],
                       check=True, capture_output=True)
        token = secrets.token_hex(24)
        (pki / "token").write_text(token)
        (pki / "tokens.csv").write_text(f"{token},admin,admin,system:masters\n")
        for path in pki.iterdir():
            path.chmod(0o600)

    def _start_control_plane(self) -> None:
        ports, pki, k8s = self.state["ports"], self.root / "pki", binaries.bin_dir()
        etcd_url = f"http://127.0.0.1:{ports['etcd']}"
        peer_url = f"http://127.0.0.1:{ports['etcd_peer']}"
        self._daemon("etcd", [str(preflight.etcd_binary()), "--name=default", f"--data-dir={self.root / 'etcd'}",
                              f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
                              f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
                              f"--initial-cluster=default={peer_url}", "--unsafe-no-fsync", "--log-level=warn"])
        self._wait("etcd", lambda: self._http_ok(f"{etcd_url}/health"), 30)
        self._daemon("apiserver", [
            str(k8s / "kube-apiserver"), f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}", f"--cert-dir={pki}", f"--token-auth-file={pki / 'tokens.csv'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=Node,RBAC", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
            f"--service-cluster-ip-range={configs.SERVICE_RANGE}", "--allow-privileged=true",
            "--kubelet-preferred-address-types=Hostname", "--profiling=false"])
        self._wait("kube-apiserver", lambda: self._api_ok("/readyz"), 60)
        self.kubeconfig.write_text(configs.kubeconfig(self.server, pki / "apiserver.crt", self._token()))
        self.kubeconfig.chmod(0o600)
        self._daemon("controller-manager", [
            str(k8s / "kube-controller-manager"), f"--kubeconfig={self.kubeconfig}", "--bind-address=127.0.0.1",
            f"--secure-port={ports['controller_manager']}", "--port=0", "--leader-elect=false",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'apiserver.crt'}",
            "--controllers=*,-nodeipam", "--profiling=false"])
        self._daemon("scheduler", [
            str(k8s / "kube-scheduler"), f"--kubeconfig={self.kubeconfig}", "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}", "--port=0", "--leader-elect=false", "--profiling=false"])
        self._say("control plane up")

    def _start_node(self) -> None:
        ports, k8s = self.state["ports"], binaries.bin_dir()
        host.create_bridge(f"{configs.POD_GATEWAY}/24")
        # dnsmasq reads the hosts folder as nobody, and the cluster root may sit in a 0700 folder (pytest's).
        hosts_dir = Path(tempfile.mkdtemp(prefix="funflix-cluster-dns-")) / "hosts.d"
        hosts_dir.mkdir()
        hosts_dir.parent.chmod(0o755)
        self.state["dns_dir"] = str(hosts_dir.parent)
        self._save()
        (hosts_dir / "services.hosts").write_text("")
        self._daemon("dnsmasq", [
            "dnsmasq", "--keep-in-foreground", "--user=nobody", "--no-resolv", "--no-hosts", "--cache-size=0",
            *[f"--server={server}" for server in _host_resolvers()], f"--hostsdir={hosts_dir}",
            f"--local=/{configs.CLUSTER_DOMAIN}/", "--domain-needed", "--bind-interfaces",
            f"--listen-address={configs.POD_GATEWAY}", f"--pid-file={hosts_dir.parent / 'dnsmasq.pid'}"])
        self._daemon("dns", [sys.executable, "-m", "funflix.cluster.dns", f"--server={self.server}",
                             f"--ca={self.root / 'pki' / 'apiserver.crt'}", f"--token-file={self.root / 'pki' / 'token'}",
                             f"--hosts-dir={hosts_dir}"])
        config = self.root / "containerd" / "config.toml"
        config.write_text(configs.containerd_config(self.root))
        (self.root / "cni" / "net.d" / "10-funflix.conflist").write_text(configs.cni_conflist(self.root))
        self._daemon("containerd", ["containerd", f"--config={config}"])
        self._wait("containerd", lambda: self._ctr("version", check=False).returncode == 0, 30)
        self._ctr("images", "import", str(images.pause_archive()), timeout=120)
        kubelet_config = self.root / "kubelet" / "config.yaml"
        kubelet_config.write_text(configs.kubelet_config(ports["kubelet"], ports["kubelet_healthz"]))
        self._daemon("kubelet", [
            str(k8s / "kubelet"), f"--config={kubelet_config}", f"--kubeconfig={self.kubeconfig}",
            "--container-runtime=remote", f"--container-runtime-endpoint=unix://{self.containerd_socket}",
            f"--hostname-override={configs.NODE_NAME}", f"--pod-infra-container-image={configs.PAUSE_IMAGE}",
            f"--root-dir={self.root / 'kubelet'}", f"--cert-dir={self.root / 'kubelet' / 'pki'}", "--v=1"])
        self._daemon("kube-proxy", [
            str(k8s / "kube-proxy"), f"--kubeconfig={self.kubeconfig}", "--proxy-mode=iptables",
            f"--hostname-override={configs.NODE_NAME}", f"--cluster-cidr={configs.CLUSTER_CIDR}",
            f"--metrics-bind-address=127.0.0.1:{ports['proxy_metrics']}",
            f"--healthz-bind-address=127.0.0.1:{ports['proxy_healthz']}", "--conntrack-max-per-core=0",
            "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0"])
        self._say("node processes up")

    def _wait_ready(self) -> None:
        def node_ready() -> bool:
            result = self.kubectl("get", "node", configs.NODE_NAME, "-o",
                                  'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False)
            return result.stdout.strip() == "True"

        self._wait("node", node_ready, 90)
        self._wait("default service account",
                   lambda: self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0, 60)

    def _wait(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [d for d in self.state["daemons"] if not daemons.alive(d)]
            if dead:
                raise RuntimeError(f"{dead[0].name} exited while waiting for {what}; its log: {dead[0].log}\n"
                                   + _tail(Path(dead[0].log)))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {timeout:.0f} s; logs in {self.logs}")
            time.sleep(0.25)
        self._say(f"{what} ready")

    def _token(self) -> str:
        return (self.root / "pki" / "token").read_text().strip()

    @staticmethod
    def _http_ok(url: str, **kwargs) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2, **kwargs) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _api_ok(self, path: str) -> bool:
        cert = self.root / "pki" / "apiserver.crt"
        if not cert.exists():
            return False
        request = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {self._token()}"})
        return self._http_ok(request, context=ssl.create_default_context(cafile=str(cert)))

    def _ctr(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run(["ctr", f"--address={self.containerd_socket}", "--namespace=k8s.io", *args],
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {result.stderr.strip()}")
        return result

    @staticmethod
    def _archive_names(archive: Path) -> list[str]:
        import tarfile
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        return [tag for entry in manifest for tag in entry.get("RepoTags") or []]

    # ---- stop steps

    def _delete_all_pods(self) -> None:
        """Force-delete every pod, then wait until containerd runs no task and no pod netns is left."""
        self.kubectl("delete", "pods", "--all", "--all-namespaces", "--force", "--grace-period=0", "--wait=false",
                     check=False, timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tasks = self._ctr("tasks", "list", "-q", check=False)
            if (tasks.returncode != 0 or not tasks.stdout.strip()) and not host.cni_namespaces():
                return
            time.sleep(0.5)
        self._say("pods still running after 60 s; removing their containers directly")

    def _remove_containers(self) -> None:
        for task in self._ctr("tasks", "list", "-q", check=False).stdout.split():
            self._ctr("tasks", "kill", "--signal=SIGKILL", task, check=False)
            self._ctr("tasks", "delete", "--force", task, check=False)
        for container in self._ctr("containers", "list", "-q", check=False).stdout.split():
            self._ctr("containers", "delete", container, check=False)

    def _shim_pids(self) -> list[int]:
        """containerd shims started for this cluster's containerd (they name its socket on their command line)."""
        socket = str(self.containerd_socket).encode()
        pids = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    cmdline = (proc / "cmdline").read_bytes()
                except OSError:
                    continue
                if b"containerd-shim" in cmdline and socket in cmdline:
                    pids.append(int(proc.name))
        return pids

    def _kill_shims(self) -> None:
        for pid in self._shim_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _host_resolvers() -> list[str]:
    lines = Path("/etc/resolv.conf").read_text().splitlines()
    return [line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
