"""Container images built here without a Docker daemon or a registry.

The base is a Debian bookworm ``minbase`` rootfs made by debootstrap and turned into an OCI layout by umoci
(cached); ``buildah bud`` builds each Containerfile with ``--build-arg BASE=oci:<layout>:bookworm`` (the same
files build with ``docker build`` / ``podman build`` from ``debian:bookworm-slim``), and the result is saved as
a docker-archive that ``ctr images import`` loads into the cluster's containerd. The pause image is the
static ``pause`` binary from the Kubernetes tree, alone in one layer. A build is skipped when its inputs
(the Containerfile, the files it copies, the base) hash the same as the archive's last build.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from funflix import __version__, paths
from funflix.cluster import binaries
from funflix.cluster.configs import PAUSE_IMAGE

BASE_TAG = "bookworm"
SUITE = "bookworm"
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_PIP_CONSTRAINTS = Path("/etc/xdg/pip/constraints.txt")
BUILD_CONFIG = "/run/funflix-build"
STEP = re.compile(r"^(\[\d+/\d+\] )?STEP \d+/\d+: ")
PARTS = ("funflix", "data", "models", "serving", "website", "simulation", "experiment")
PROJECT_FILES = ("pyproject.toml", "README.md", "requirements", *PARTS)


@dataclass(frozen=True)
class ImageSpec:
    name: str
    containerfile: str  # relative to the repo root, which is the build context
    inputs: tuple[str, ...]  # what the Containerfile copies (relative to the context)
    bakes_models: bool = False

    @property
    def reference(self) -> str:
        return f"{self.name}:{__version__}"


IMAGES = {
    "funflix-serving": ImageSpec("funflix-serving", "serving/Containerfile", PROJECT_FILES, bakes_models=True),
    "funflix-web": ImageSpec("funflix-web", "website/Containerfile", PROJECT_FILES, bakes_models=True),
    "funflix-postgres": ImageSpec("funflix-postgres", "tests/cluster/images/postgres.Containerfile",
                                  ("tests/cluster/images/postgres-entrypoint.sh",)),
}


def images_dir() -> Path:
    return paths.sub("k8s") / "images"


def archive(name: str) -> Path:
    """Where the docker-archive of image ``name`` is written (``var/k8s/images/<name>.tar``)."""
    return images_dir() / f"{name}.tar"


def _say(message: str, started: float) -> None:
    print(f"[images {time.monotonic() - started:6.1f}s] {message}", flush=True)


def _run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} {' '.join(argv[1:3])}... failed:\n{result.stderr[-3000:]}")
    return result


# ---- base and pause

def _debian_mirror() -> str:
    match = re.search(r"(?m)^URIs:\s*(\S+)", DEBIAN_SOURCES.read_text())
    return match.group(1) if match else "http://deb.debian.org/debian"


def _layout_from_rootfs(rootfs: Path, layout: Path, tag: str, config: list[str]) -> None:
    """One-layer OCI image at ``layout:tag`` from a folder (``/dev``, ``/proc``, ``/sys`` left empty)."""
    layer = layout.with_suffix(".layer.tar")
    with tarfile.open(layer, "w") as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(entry, arcname=entry.name,
                    filter=lambda info: None if re.match(r"^(dev|proc|sys)/.", info.name) else info)
    shutil.rmtree(layout, ignore_errors=True)
    _run("umoci", "init", "--layout", str(layout))
    _run("umoci", "new", "--image", f"{layout}:{tag}")
    _run("umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", str(layer))
    _run("umoci", "config", "--image", f"{layout}:{tag}", *config)
    layer.unlink()


# What debian:bookworm-slim sets up: apt keeps no downloaded packages or caches, dpkg installs no
# documentation, manual pages or translations (copyright files stay).
APT_CLEAN = """DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Install-Recommends "false";
"""
DPKG_EXCLUDES = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
"""


def _slim(rootfs: Path) -> None:
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker").write_text(DPKG_EXCLUDES)
    for folder in ("usr/share/man", "usr/share/info", "usr/share/lintian"):
        shutil.rmtree(rootfs / folder, ignore_errors=True)
    for entry in (rootfs / "usr/share/locale").glob("*"):
        if entry.name != "locale.alias":
            shutil.rmtree(entry, ignore_errors=True)
    for entry in (rootfs / "usr/share/doc").rglob("*"):
        if entry.is_file() and entry.name != "copyright":
            entry.unlink()


def base_layout() -> Path:
    """The OCI layout holding a Debian bookworm minbase image (debootstrap once, ~45 s; then cached)."""
    layout = images_dir() / "base"
    if (layout / "index.json").exists():
        return layout
    started = time.monotonic()
    rootfs = images_dir() / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    _say(f"debootstrap --variant=minbase {SUITE} (about a minute)", started)
    _run("debootstrap", "--variant=minbase", SUITE, str(rootfs), _debian_mirror())
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    shutil.copy2(DEBIAN_SOURCES, rootfs / "etc/apt/sources.list.d/debian.sources")
    _slim(rootfs)
    for leftover in (*(rootfs / "var/cache/apt/archives").glob("*.deb"), *(rootfs / "var/lib/apt/lists").glob("*_*"),
                     rootfs / "etc/resolv.conf", rootfs / "etc/hostname"):
        leftover.unlink(missing_ok=True)
    _layout_from_rootfs(rootfs, layout, BASE_TAG, [
        "--config.env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--config.cmd=/bin/bash", "--clear=config.labels",
    ])
    shutil.rmtree(rootfs)
    _say(f"base image in {layout}", started)
    return layout


def pause_archive() -> Path:
    """The pod sandbox image (``funflix.local/pause``) as a docker-archive, built from the cached pause binary."""
    target = archive("pause")
    if target.exists():
        return target
    work = images_dir() / "pause-build"
    shutil.rmtree(work, ignore_errors=True)
    (work / "rootfs").mkdir(parents=True)
    shutil.copy2(binaries.bin_dir() / "pause", work / "rootfs" / "pause")
    _layout_from_rootfs(work / "rootfs", work / "layout", "pause",
                        ["--config.entrypoint=/pause", "--config.user=65535:65535"])
    _run("skopeo", "--insecure-policy", "copy", "--quiet", f"oci:{work / 'layout'}:pause",
         f"docker-archive:{target}.partial:{PAUSE_IMAGE}")
    Path(f"{target}.partial").rename(target)
    shutil.rmtree(work)
    return target


# ---- application images

def models_root() -> Path:
    return paths.home() / "models"


def staged_models() -> Path:
    """The build context's copy of the models to bake: only each model's LATEST version."""
    return images_dir() / "models"


def stage_models() -> dict[str, str]:
    """Copy each trained model's LATEST version into :func:`staged_models`; return ``{model: version}``."""
    versions = {p.parent.name: p.read_text().strip() for p in sorted(models_root().glob("*/LATEST"))}
    if not versions:
        raise FileNotFoundError(f"no trained models in {models_root()}: run `funflix train` first")
    target = staged_models()
    shutil.rmtree(target, ignore_errors=True)
    for model, version in versions.items():
        shutil.copytree(models_root() / model / version, target / model / version)
        (target / model / "LATEST").write_text(version + "\n")
    for path in target.rglob("*"):  # the images' non-root users read them, whoever trained them
        path.chmod(0o755 if path.is_dir() else 0o644)
    return versions


def _input_digest(spec: ImageSpec, extra: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(extra, sort_keys=True).encode())
    roots = [spec.containerfile, *spec.inputs] + ([os.path.relpath(staged_models(), paths.REPO_ROOT)]
                                                  if spec.bakes_models else [])
    for relative in roots:
        top = paths.REPO_ROOT / relative
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()
                                                    and "__pycache__" not in p.parts)
        for path in files:
            digest.update(str(path.relative_to(paths.REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    digest.update((base_layout() / "index.json").read_bytes())
    return digest.hexdigest()


def _build_config() -> Path:
    """A pip configuration for RUN steps, mounted at BUILD_CONFIG: the host's CA bundle (TLS is intercepted
    here) and its pip constraints. Builds elsewhere need none of it."""
    folder = images_dir() / "build-config"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    lines = ["[global]"]
    if HOST_CA.exists():
        shutil.copy2(HOST_CA, folder / "ca.crt")
        lines.append(f"cert = {BUILD_CONFIG}/ca.crt")
    if HOST_PIP_CONSTRAINTS.exists():
        shutil.copy2(HOST_PIP_CONSTRAINTS, folder / "constraints.txt")
        lines.append(f"constraint = {BUILD_CONFIG}/constraints.txt")
    (folder / "pip.conf").write_text("\n".join(lines) + "\n")
    return folder


def _buildah(*args: str) -> list[str]:
    root = images_dir()
    # skip_mount_home: no bind mount of the storage folder is left on the host after a build.
    return ["buildah", f"--root={root / 'storage'}", f"--runroot={root / 'storage-run'}",
            "--storage-opt=overlay.skip_mount_home=true", *args]


def build(name: str, force: bool = False) -> Path:
    """Build image ``name`` (see :data:`IMAGES`) into its docker-archive; skipped when nothing changed."""
    if name not in IMAGES:
        raise ValueError(f"unknown image {name!r}; known: {', '.join(IMAGES)}")
    spec = IMAGES[name]
    base = base_layout()
    started = time.monotonic()
    args = {"BASE": f"oci:{base}:{BASE_TAG}", "VERSION": __version__, "REVISION": _git_revision()}
    if spec.bakes_models:
        versions = stage_models()
        if paths.REPO_ROOT not in staged_models().resolve().parents:
            raise ValueError(f"FUNFLIX_HOME must lie inside the repo (the build context); {paths.home()} does not")
        args["MODELS_DIR"] = str(staged_models().resolve().relative_to(paths.REPO_ROOT))
        args["MODEL_VERSIONS"] = ",".join(f"{model}={version}" for model, version in versions.items())
    target = archive(name)
    record = target.with_suffix(".json")
    # The revision label alone does not make a new image: same inputs, same image (labelled where it was built).
    digest = _input_digest(spec, {key: value for key, value in args.items() if key != "REVISION"})
    if not force and target.exists() and record.exists() and json.loads(record.read_text())["inputs"] == digest:
        _say(f"{spec.reference} up to date ({target})", started)
        return target
    _say(f"building {spec.reference} from {spec.containerfile}", started)
    args["PIP_CONFIG_FILE"] = f"{BUILD_CONFIG}/pip.conf"
    command = _buildah("bud", "--network=host", "--layers", f"--file={spec.containerfile}",
                       f"--tag={spec.reference}", f"--volume={_build_config()}:{BUILD_CONFIG}:ro",
                       *[f"--build-arg={key}={value}" for key, value in args.items()], str(paths.REPO_ROOT))
    log_path = images_dir() / f"{name}.build.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            log.write(line)
            if STEP.search(line):
                _say(line.strip()[:120], started)
    if process.wait() != 0:
        raise RuntimeError(f"buildah bud {spec.reference} failed; log: {log_path}\n"
                           + "".join(log_path.read_text().splitlines(keepends=True)[-25:]))
    partial = Path(f"{target}.partial")
    partial.unlink(missing_ok=True)
    _run(*_buildah("push", "--quiet", spec.reference, f"docker-archive:{partial}:{spec.reference}"))
    partial.rename(target)
    seconds = time.monotonic() - started
    size = target.stat().st_size  # a docker-archive holds the layers uncompressed: the unpacked image size
    record.write_text(json.dumps({"image": spec.reference, "inputs": digest, "build_seconds": round(seconds, 1),
                                  "models": args.get("MODEL_VERSIONS", ""), "size_bytes": size}, indent=2))
    _say(f"{spec.reference}: {size / 1e6:.0f} MB, built in {seconds:.0f} s -> {target}", started)
    return target


def _git_revision() -> str:
    result = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "unknown"
