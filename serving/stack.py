"""The whole system on one machine: router and arm components, gateway, website, Prometheus.

Each part runs as a real process (``seldon-core-microservice`` for the components, from the serving
environment; the gateway and gunicorn for the website, from this one; ``/usr/bin/prometheus``),
logging to ``<home>/logs/``::

    with LocalStack() as stack:          # or `funflix up`
        requests.post(f"{stack.gateway_url}/api/v1.0/predictions", json={"jsonData": {"user_id": 1}})
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from funflix import paths
from funflix.environments import MICROSERVICE, serving_bin
from funflix.serving.experiment_config import COMBINER_NODE, Arm, ExperimentConfig, load_experiment
from funflix.serving.metric_names import LEDGER_METRICS_PATH
from funflix.serving.processes import ManagedProcess, port_in_use

log = logging.getLogger(__name__)

BIN = Path(sys.executable).parent
PROMETHEUS = "/usr/bin/prometheus"
SCRAPE_INTERVAL = "5s"
MODEL_CLASS = "funflix.serving.RecommenderModel.RecommenderModel"
ROUTER_CLASS = "funflix.serving.ABRouter.ABRouter"
COMBINER_CLASS = "funflix.serving.InterleavingCombiner.InterleavingCombiner"


@dataclass(frozen=True)
class Component:
    """A graph node run by ``seldon-core-microservice``: REST on ``port``, metrics on ``metrics_port``."""

    name: str
    port: int
    metrics_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/prometheus"

    @property
    def ledger_metrics_url(self) -> str:
        """A model component's feedback counters (impressions, clicks), read from its ledger."""
        return f"{self.url}{LEDGER_METRICS_PATH}"


def _parameters(**values) -> str:
    """Seldon graph parameters (name/value/type) as ``--parameters`` JSON."""
    kinds = {int: "INT", float: "DOUBLE", str: "STRING"}
    return json.dumps([{"name": k, "value": str(v), "type": kinds[type(v)]} for k, v in values.items()])


def prometheus_config(gateway: str, components: list[Component], website: str | None,
                      interval: str = SCRAPE_INTERVAL, models: list[Component] = ()) -> dict:
    """Scrape the gateway, each component's metrics port, each model's ledger counters and the website."""
    jobs = [
        {"job_name": "funflix-gateway", "metrics_path": "/prometheus", "static_configs": [{"targets": [gateway]}]},
        {"job_name": "funflix-components", "metrics_path": "/prometheus",
         "static_configs": [{"targets": [f"127.0.0.1:{c.metrics_port}"], "labels": {"component": c.name}}
                            for c in components]},
    ]
    if models:
        jobs.append({"job_name": "funflix-ledgers", "metrics_path": LEDGER_METRICS_PATH,
                     "static_configs": [{"targets": [f"127.0.0.1:{c.port}"], "labels": {"component": c.name}}
                                        for c in models]})
    if website:
        jobs.append({"job_name": "funflix-website", "metrics_path": "/metrics",
                     "static_configs": [{"targets": [website]}]})
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval}, "scrape_configs": jobs}


class LocalStack:
    """Start, health-check and stop the local stack; a context manager.

    Parameters
    ----------
    config_path : values.yaml with the ``experiment`` section (default: the chart's).
    home : build-output folder (default: ``funflix.paths.home()``); logs go to ``<home>/logs``.
    models_root : trained artifacts (default: ``<home>/models``).
    gateway_port, website_port, prometheus_port : listening ports on 127.0.0.1.
    component_port, metrics_port : first REST / metrics port; the router takes it, arm i takes it + 1 + i.
    website, prometheus : also start the website and Prometheus.
    model_workers, router_workers : gunicorn workers per component (the router keeps bandit state: 1).
    website_workers : gunicorn workers of the website.
    component_threads : gunicorn threads per component worker; 2 or more selects gunicorn's gthread
        worker, which keeps the gateway's connections alive (the sync worker closes each one).
    timeout : seconds the gateway waits for a component before answering 503.
    database_url : the website's event store (default: SQLite ``<home>/website/events.sqlite3``).
    ledger_url : the arms' shared feedback ledger (a PostgreSQL URL; default: a SQLite file per arm
        under ``<home>/serving``).
    """

    def __init__(self, config_path: str | Path | None = None, home: str | Path | None = None,
                 models_root: str | Path | None = None, gateway_port: int = 8000, website_port: int = 5000,
                 prometheus_port: int = 9090, component_port: int = 9000, metrics_port: int = 6000,
                 website: bool = True, prometheus: bool = True, model_workers: int = 2, router_workers: int = 1,
                 website_workers: int = 1, component_threads: int = 2, timeout: float = 2.0,
                 database_url: str | None = None, ledger_url: str | None = None, startup_timeout: float = 90.0):
        self.config_path = Path(config_path) if config_path else None
        self.config: ExperimentConfig = load_experiment(self.config_path)
        self.home = Path(home).resolve() if home else paths.home()
        self.models_root = Path(models_root).resolve() if models_root else self.home / "models"
        self.gateway_port = gateway_port
        self.website_port = website_port
        self.prometheus_port = prometheus_port
        self.router = Component(self.config.root_node, component_port, metrics_port)  # the graph's root
        self.arms = [Component(arm.name, component_port + 1 + i, metrics_port + 1 + i)
                     for i, arm in enumerate(self.config.arms)]
        self.with_website = website
        self.with_prometheus = prometheus
        self.model_workers = model_workers
        self.router_workers = router_workers
        self.website_workers = website_workers
        self.component_threads = component_threads
        self.timeout = timeout
        self._database_url = database_url
        self.ledger_url = ledger_url
        self.startup_timeout = startup_timeout
        self.processes: dict[str, ManagedProcess] = {}

    # ---- addresses
    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def website_url(self) -> str | None:
        return f"http://127.0.0.1:{self.website_port}" if self.with_website else None

    @property
    def database_url(self) -> str:
        """The website's event store (the analysis reads impressions from here)."""
        return self._database_url or f"sqlite:///{self.home / 'website' / 'events.sqlite3'}"

    @property
    def prometheus_url(self) -> str | None:
        return f"http://127.0.0.1:{self.prometheus_port}" if self.with_prometheus else None

    @property
    def components(self) -> list[Component]:
        return [self.router, *self.arms]

    def component(self, name: str) -> Component:
        for component in self.components:
            if component.name == name:
                return component
        raise ValueError(f"no component {name!r}; components are {[c.name for c in self.components]}")

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    def urls(self) -> dict[str, str]:
        found = {"gateway": self.gateway_url}
        if self.with_website:
            found["website"] = self.website_url
            found["event store"] = self.database_url
        if self.with_prometheus:
            found["prometheus"] = self.prometheus_url
        for component in self.components:
            found[component.name] = component.url
            found[f"{component.name} metrics"] = component.metrics_url
        for component in self.arms:
            found[f"{component.name} ledger metrics"] = component.ledger_metrics_url
        return found

    # ---- processes
    def _env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "FUNFLIX_HOME": str(self.home), "PYTHONUNBUFFERED": "1",
               # one BLAS thread per worker: spinning BLAS threads of several workers starve each other
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        env.update(extra)
        return env

    def _component_process(self, component: Component, service_type: str, class_path: str, parameters: str,
                           workers: int, image: str) -> ManagedProcess:
        command = [str(serving_bin() / MICROSERVICE), class_path, "--service-type", service_type,
                   "--http-port", str(component.port), "--metrics-port", str(component.metrics_port),
                   "--grpc-workers", "0", "--workers", str(workers), "--threads", str(self.component_threads),
                   "--keepalive", "30",
                   "--parameters", parameters]
        env = self._env(PREDICTIVE_UNIT_ID=component.name, PREDICTOR_ID="default",
                        SELDON_DEPLOYMENT_ID=self.config.name, PREDICTIVE_UNIT_METRICS_ENDPOINT="/prometheus",
                        INCLUDE_METRICS_IN_CLIENT_RESPONSE="false", FLASK_JSON_SORT_KEYS="false",
                        PREDICTIVE_UNIT_IMAGE=image)
        return ManagedProcess(component.name, command, self.log_dir / f"{component.name}.log",
                              f"{component.url}/health/status", env=env)

    def _build(self) -> list[ManagedProcess]:
        config = self.config
        if config.design == "interleaving":
            root = self._component_process(self.router, "COMBINER", COMBINER_CLASS,
                                           _parameters(arms=",".join(config.arm_names), name=COMBINER_NODE),
                                           self.router_workers, image="funflix/interleaver:local")
        else:
            root = self._component_process(
                self.router, "ROUTER", ROUTER_CLASS,
                _parameters(mode=config.routing, split=",".join(repr(s) for s in config.splits),
                            arms=",".join(config.arm_names), salt=config.salt),
                self.router_workers, image="funflix/ab-router:local")
        built = [root, *(self.arm_process(arm.name) for arm in config.arms)]
        gateway = [sys.executable, "-m", "funflix.serving.gateway", "--port", str(self.gateway_port),
                   "--combiner" if config.design == "interleaving" else "--router", f"127.0.0.1:{self.router.port}",
                   "--timeout", str(self.timeout)]
        gateway += [arg for c in self.arms for arg in ("--child", f"{c.name}=127.0.0.1:{c.port}")]
        if self.config_path:
            gateway += ["--config", str(self.config_path)]
        built.append(ManagedProcess("gateway", gateway, self.log_dir / "gateway.log", f"{self.gateway_url}/live",
                                    env=self._env()))
        if self.with_website:
            built.append(self._website_process())
        if self.with_prometheus:
            built.append(self._prometheus_process())
        return built

    def arm_process(self, name: str, component: Component | None = None, replica: str | None = None) -> ManagedProcess:
        """The model component of arm ``name`` (on ``component``'s ports, default the stack's; a second
        replica of an arm needs its own ports and ``replica`` name, and a shared ``ledger_url``)."""
        arm = self.config.arms[self.config.arm_index(name)]
        component = component or self.component(name)
        ledger = self.ledger_url or str(self.home / "serving" / f"feedback-{arm.name}.sqlite")
        return self._component_process(
            component, "MODEL", MODEL_CLASS,
            _parameters(arm=arm.name, model=arm.model, version=arm.version, models_root=str(self.models_root),
                        ledger=ledger, replica=replica or arm.name),
            self.model_workers, image=f"funflix/{arm.model}:{self._artifact_version(arm)}")

    def _artifact_version(self, arm: Arm) -> str:
        """The artifact version an arm will load ("latest" resolved), for Seldon's model_version metric label."""
        from funflix.models.artifacts import artifact_dir

        try:
            return artifact_dir(arm.model, arm.version, self.models_root).name
        except FileNotFoundError:  # the component itself reports it, with its log
            return arm.version

    def _website_process(self) -> ManagedProcess:
        extra = {"FUNFLIX_GATEWAY_URL": self.gateway_url, "FUNFLIX_DATABASE_URL": self.database_url,
                 "FUNFLIX_MODELS_ROOT": str(self.models_root)}
        if self.config_path:  # the site analyses the experiment the stack runs (its design, split)
            extra["FUNFLIX_EXPERIMENT_VALUES"] = str(self.config_path.resolve())
        (self.home / "website").mkdir(parents=True, exist_ok=True)
        if self.website_workers > 1:
            multiproc = self.home / "website" / "prometheus-multiproc"
            shutil.rmtree(multiproc, ignore_errors=True)
            multiproc.mkdir(parents=True)
            extra["prometheus_multiproc_dir"] = str(multiproc)
        command = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.website_port}",
                   "--workers", str(self.website_workers), "--threads", "8", "--timeout", "60",
                   "funflix.website:create_app()"]
        return ManagedProcess("website", command, self.log_dir / "website.log",
                              f"{self.website_url}/healthz", env=self._env(**extra))

    def write_prometheus_config(self) -> Path:
        website = f"127.0.0.1:{self.website_port}" if self.with_website else None
        config = prometheus_config(f"127.0.0.1:{self.gateway_port}", self.components, website, models=self.arms)
        path = self.home / "prometheus" / "prometheus.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _prometheus_process(self) -> ManagedProcess:
        config = self.write_prometheus_config()
        command = [PROMETHEUS, f"--config.file={config}",
                   f"--storage.tsdb.path={self.home / 'prometheus' / 'data'}",
                   f"--web.listen-address=127.0.0.1:{self.prometheus_port}", "--storage.tsdb.retention.time=7d"]
        return ManagedProcess("prometheus", command, self.log_dir / "prometheus.log",
                              f"{self.prometheus_url}/-/ready", env=self._env())

    def start(self) -> "LocalStack":
        """Start every process, then wait until each is healthy (RuntimeError and cleanup otherwise)."""
        if not (self.models_root / self.config.arms[0].model).is_dir():
            raise FileNotFoundError(f"no trained models in {self.models_root} (run `funflix train`)")
        processes = self._build()
        busy = [(p.name, port) for p in processes for port in self._ports(p.name) if port_in_use(port)]
        if busy:
            raise RuntimeError("ports already in use: " + ", ".join(f"{name} {port}" for name, port in busy))
        try:
            for process in processes:
                self.processes[process.name] = process
                process.start()
            deadline = time.monotonic() + self.startup_timeout
            for process in processes:
                process.wait_healthy(deadline)
        except BaseException:
            self.stop()
            raise
        log.info("local stack up: %s", ", ".join(f"{k} {v}" for k, v in self.urls().items()))
        return self

    def _ports(self, name: str) -> list[int]:
        by_name = {c.name: [c.port, c.metrics_port] for c in self.components}
        by_name.update(gateway=[self.gateway_port], website=[self.website_port], prometheus=[self.prometheus_port])
        return by_name[name]

    def stop(self) -> None:
        """Stop everything: the front (website, gateway, Prometheus) first, then the components together."""
        components = {c.name for c in self.components}
        front = [p for name, p in self.processes.items() if name not in components]
        back = [p for name, p in self.processes.items() if name in components]
        for group in (front, back):
            for process in group:
                process.terminate()
            for process in group:
                process.wait_stopped()
        self.processes.clear()

    def kill(self, name: str) -> None:
        """SIGKILL one process (tests of faults); :meth:`restart` brings it back."""
        self.processes[name].kill()

    def restart(self, name: str) -> None:
        process = self.processes[name]
        process.stop()
        process.start()
        process.wait_healthy(time.monotonic() + self.startup_timeout)

    def healthy(self) -> dict[str, bool]:
        return {name: process.healthy() for name, process in self.processes.items()}

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
