"""The app's long-lived parts, kept on ``app.extensions["funflix"]`` (no module-level state)."""

from __future__ import annotations

import gc
import logging
import threading
from datetime import timedelta

from . import feedback, store
from .catalog import Catalog, load_catalog
from .gateway import SeldonGateway
from .metrics import OutboxCollector, WebsiteMetrics
from .tokens import ImpressionTokens

log = logging.getLogger(__name__)


def experiment_config(config):
    """The served experiment: ``EXPERIMENT_JSON``, else the values file ``EXPERIMENT_VALUES``, else the chart's."""
    from funflix.serving.experiment_config import VALUES_FILE, experiment_from_json, load_experiment

    if config.get("EXPERIMENT_JSON"):
        return experiment_from_json(config["EXPERIMENT_JSON"], source="EXPERIMENT_JSON")
    return load_experiment(config.get("EXPERIMENT_VALUES") or VALUES_FILE)


class Site:
    """Engine, gateway client, metrics, tokens, and the lazily loaded catalogue and similar-items model."""

    def __init__(self, config):
        if config["FEEDBACK_LEASE"] <= 2 * config["FEEDBACK_TIMEOUT"]:  # a post may take connect + read timeouts
            raise ValueError(f"FEEDBACK_LEASE ({config['FEEDBACK_LEASE']} s) must exceed twice FEEDBACK_TIMEOUT "
                             f"({config['FEEDBACK_TIMEOUT']} s): a row would be claimed again while being posted")
        self.config = config
        self.feedback_lease = timedelta(seconds=config["FEEDBACK_LEASE"])
        self.engine = store.create_store_engine(config["DATABASE_URL"])
        store.migrate(self.engine)
        self.experiment = self._register_experiment()
        self.metrics = WebsiteMetrics()
        self.metrics.add_collector(OutboxCollector(self._outbox_counts))
        self.gateway = SeldonGateway(config["GATEWAY_URL"], timeout=config["GATEWAY_TIMEOUT"],
                                     feedback_timeout=config["FEEDBACK_TIMEOUT"],
                                     retry_after=config["GATEWAY_RETRY_AFTER"], observe=self.metrics.observe_seldon)
        self.tokens = ImpressionTokens(config["SECRET_KEY"], max_age=config["IMPRESSION_TTL"])
        self._lock = threading.Lock()
        self._catalog: Catalog | None = config.get("CATALOG")
        self._recommender = None
        self._recommender_loaded = False
        self.experiment_cache = None  # (monotonic time, /experiment page context)
        self._analysis = None
        self.housekeeper = None
        if config["HOUSEKEEPING_INTERVAL"] > 0:
            self.housekeeper = feedback.Housekeeper(self.housekeeping, config["HOUSEKEEPING_INTERVAL"], warm_up=self.warm_up)
            self.housekeeper.start()

    @property
    def experiment_id(self) -> str | None:
        return self.experiment.id if self.experiment is not None else None

    def _register_experiment(self):
        """Record the configured experiment in the store. A configuration given explicitly must be
        valid (ValueError); without one and without the chart's values file, rows stay untagged (None)."""
        from .experiments import register_experiment

        # the EXPERIMENT_JSON configuration, parsed, for /experiment (None: the page reads the values file)
        self.experiment_section = None
        self.design = "ab"  # the experiment design /experiment analyses
        try:
            config = experiment_config(self.config)
        except (ImportError, OSError, ValueError) as exc:
            if self.config.get("EXPERIMENT_JSON") or self.config.get("EXPERIMENT_VALUES"):
                raise ValueError(f"experiment configuration: {exc}") from None
            log.warning("no experiment configuration (%s): impressions are not tagged with an experiment", exc)
            return None
        if self.config.get("EXPERIMENT_JSON"):
            self.experiment_section = config
        self.design = config.design
        with self.engine.connect() as conn:
            return register_experiment(conn, config, self.config["MODELS_ROOT"])

    def _outbox_counts(self):
        with self.engine.execution_options(readonly=True).connect() as conn:
            return store.feedback_counts(conn)

    @property
    def analysis(self):
        """The event store's :class:`StoreAnalysis`: keeps the experiment's settled replay between views
        (imported on first use: the statistics stack is heavy)."""
        if self._analysis is None:
            with self._lock:
                if self._analysis is None:
                    from funflix.experiment.store_analysis import StoreAnalysis

                    self._analysis = StoreAnalysis()
        return self._analysis

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            with self._lock:
                if self._catalog is None:
                    self._catalog = load_catalog(self.config["MOVIELENS_PATH"], self.config["MOVIELENS_DATASET"])
                    log.info("catalogue loaded: %d movies, %d members", len(self._catalog.movies),
                             len(self._catalog.members))
        return self._catalog

    def similar(self, movie_id: int, k: int) -> tuple[list[int], str]:
        """Movies like ``movie_id`` from the similar-items model, else by shared genres."""
        recommender = self._similar_model()
        if recommender is not None:
            try:
                return [int(m) for m in recommender.similar_items(movie_id, k).items], "model"
            except ValueError:  # a movie the model never saw
                pass
        return self.catalog.similar_by_genre(movie_id, k), "genres"

    def _similar_model(self):
        if not self._recommender_loaded:
            with self._lock:
                if not self._recommender_loaded:
                    try:
                        from funflix.models.artifacts import load_recommender

                        self._recommender = load_recommender(self.config["SIMILAR_ARM"], root=self.config["MODELS_ROOT"])
                    except (ImportError, FileNotFoundError, ValueError) as exc:
                        log.warning("no similar-items model (%s); 'More like this' uses shared genres", exc)
                    self._recommender_loaded = True
        return self._recommender

    def warm_up(self) -> None:
        """Load the catalogue and the similar-items model before the first visitor needs them,
        then move them out of the garbage collector's sight: a full collection over them takes
        ~40 ms, a pause that would land on some page render (``gc.freeze``)."""
        self.catalog  # noqa: B018 -- the property loads it
        self._similar_model()
        gc.collect()
        gc.freeze()

    def events_changed(self) -> None:
        """Called after a commit that queued feedback: deliver now (inline) or wake the housekeeper."""
        if self.housekeeper is not None:
            self.housekeeper.wake()
        else:
            feedback.deliver_due(self.engine, self.gateway, self.metrics, self.feedback_lease)

    def housekeeping(self) -> tuple[int, int]:
        """Close stale impressions, then deliver due feedback; returns ``(sent, failed)``."""
        feedback.close_stale(self.engine, self.metrics, self.config["IMPRESSION_TTL"])
        return feedback.deliver_due(self.engine, self.gateway, self.metrics, self.feedback_lease)

    def close(self) -> None:
        if self.housekeeper is not None:
            self.housekeeper.stop()
            self.housekeeper.join(timeout=5)
        self.engine.dispose()
