"""Build Kubernetes 1.20.2 (control plane, kubelet, kube-proxy) and the pause binary once, from Debian's
source package, and cache them under ``var/k8s/bin``.

No registry ships a Kubernetes server build; Debian's ``kubernetes`` source package holds the whole tree
and builds with Debian's Go. Its vendored ``modern-go/reflect2`` 1.0.1 crashes the API server under Go 1.19,
so it is replaced by Debian's 1.0.2 before building. Idempotent: a complete cache is left alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from funflix import paths

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
BINARIES = (*COMPONENTS, "pause")
SOURCE_PACKAGE = "kubernetes"
REFLECT2_PACKAGE = "golang-github-modern-go-reflect2-dev"
REFLECT2_VENDOR = Path("vendor/github.com/modern-go/reflect2")
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
BUILD_RECORD = "build.json"  # build time and sizes, beside the binaries
BUILD_TOOLS = ("go", "rsync", "make", "gcc", "dpkg-deb", "apt-get")


def bin_dir() -> Path:
    """The cache of built binaries: ``$FUNFLIX_K8S_BIN`` or ``var/k8s/bin``."""
    override = os.environ.get("FUNFLIX_K8S_BIN")
    return Path(override).resolve() if override else paths.sub("k8s") / "bin"


def missing_binaries(directory: Path | None = None) -> list[str]:
    """Names of the cached binaries that are absent (an empty list means the cache is complete)."""
    directory = directory or bin_dir()
    return [name for name in BINARIES if not os.access(directory / name, os.X_OK)]


def _say(message: str, started: float) -> None:
    print(f"[k8s-binaries {time.monotonic() - started:6.1f}s] {message}", flush=True)


def _apt_options(apt_dir: Path) -> list[str]:
    """apt-get options for a private source list with ``deb-src`` enabled (the system's is binary-only)."""
    return ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={apt_dir}",
            "-o", f"Dir::State::Lists={apt_dir / 'lists'}", "-o", "Dir::Cache::archives=" + str(apt_dir / "archives")]


def _private_apt(work: Path) -> Path:
    apt_dir = work / "apt"
    (apt_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt_dir / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    text = DEBIAN_SOURCES.read_text()
    (apt_dir / "debian.sources").write_text(re.sub(r"(?m)^Types:.*$", "Types: deb deb-src", text))
    subprocess.run(["apt-get", *_apt_options(apt_dir), "update", "-qq"], check=True)
    return apt_dir


def _fetch_source(work: Path, apt_dir: Path) -> Path:
    """Download and unpack the upstream tarball; return the source tree."""
    downloads = work / "downloads"
    downloads.mkdir(exist_ok=True)
    subprocess.run(["apt-get", *_apt_options(apt_dir), "source", "--download-only", "-qq", SOURCE_PACKAGE],
                   cwd=downloads, check=True)
    (tarball,) = downloads.glob(f"{SOURCE_PACKAGE}_*.orig.tar.gz")
    tree = work / "src"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir()
    with tarfile.open(tarball) as archive:
        archive.extractall(tree, filter="tar")
    (top,) = [p for p in tree.iterdir() if p.is_dir()]
    return top


def _patch_reflect2(tree: Path, work: Path, apt_dir: Path) -> None:
    """Replace the vendored reflect2 1.0.1 by Debian's 1.0.2 (1.0.1 segfaults the API server on Go 1.19)."""
    debs = work / "reflect2"
    shutil.rmtree(debs, ignore_errors=True)
    debs.mkdir()
    subprocess.run(["apt-get", *_apt_options(apt_dir), "download", "-qq", REFLECT2_PACKAGE], cwd=debs, check=True)
    (deb,) = debs.glob("*.deb")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(debs / "x")], check=True)
    (source,) = (debs / "x").glob("usr/share/gocode/src/github.com/modern-go/reflect2")
    vendor = tree / REFLECT2_VENDOR
    for old in [*vendor.glob("*.go"), *vendor.glob("*.s")]:
        old.unlink()
    for new in [*source.glob("*.go"), *source.glob("*.s")]:
        if not new.name.endswith("_test.go"):
            shutil.copy2(new, vendor / new.name)


def _make(tree: Path, work: Path, started: float) -> None:
    env = {**os.environ, "GOPROXY": "off", "CGO_ENABLED": "0", "GOFLAGS": "", "GOCACHE": str(work / "gocache"),
           "GOPATH": str(work / "gopath")}
    what = " ".join(f"cmd/{name}" for name in COMPONENTS)
    process = subprocess.Popen(["make", f"WHAT={what}", "GOLDFLAGS=-s -w"], cwd=tree, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    for line in process.stdout:
        tail = (tail + [line.rstrip()])[-40:]
        if line.startswith("+++") or "k8s.io/kubernetes/cmd/" in line:
            _say(line.strip(), started)
    if process.wait() != 0:
        sys.exit("make failed:\n" + "\n".join(tail))


def _build_pause(tree: Path, target: Path) -> None:
    source = tree / "build" / "pause" / "linux" / "pause.c"
    subprocess.run(["gcc", "-Os", "-static", "-DVERSION=v3.4.1-funflix", "-o", str(target), str(source)], check=True)
    subprocess.run(["strip", str(target)], check=True)


def build(force: bool = False) -> Path:
    """Build whatever binary the cache lacks (all of them, from one source tree); return the cache."""
    started = time.monotonic()
    target = bin_dir()
    if not force and not missing_binaries(target):
        _say(f"cached in {target}", started)
        return target
    absent = [tool for tool in BUILD_TOOLS if not shutil.which(tool)]
    if absent:
        sys.exit(f"missing build tools: {', '.join(absent)} (run `make cluster-deps`)")
    work = target.parent / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        _say("fetching Debian's kubernetes source package", started)
        apt_dir = _private_apt(work)
        tree = _fetch_source(work, apt_dir)
        _say(f"unpacked {tree.name}; patching vendored reflect2 to 1.0.2", started)
        _patch_reflect2(tree, work, apt_dir)
        _say("building (about 4 minutes on 2 cores)", started)
        _make(tree, work, started)
        staging = target.with_name("bin.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for name in COMPONENTS:
            shutil.copy2(tree / "_output" / "bin" / name, staging / name)
        _build_pause(tree, staging / "pause")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = round(time.monotonic() - started, 1)
    sizes = {name: (target / name).stat().st_size for name in BINARIES}
    (target / BUILD_RECORD).write_text(json.dumps({"build_seconds": seconds, "size_bytes": sizes}, indent=2))
    _say("done: " + ", ".join(f"{name} {size / 1e6:.0f} MB" for name, size in sizes.items()), started)
    return target
