"""Serving: the two arms as Seldon Core v1 components behind a sticky A/B router, and the local stack.

- :mod:`.experiment_config` reads the experiment (arms, split, salt, routing) from the chart's values.yaml.
- :mod:`.RecommenderModel` is the MODEL component (one class, either arm), :mod:`.ABRouter` the ROUTER;
  both parse requests with :mod:`.recommend_request` and guard their endpoints with :mod:`.component_errors`;
  :mod:`.feedback_ledger` makes a feedback count once per served list and holds the arms' impression and
  click counters, which :mod:`.ledger_metrics` exposes; :mod:`.seldon_metrics_lock` keeps Seldon's own
  metrics from losing increments between a worker's threads.
- :mod:`.gateway` (with :mod:`.upstream`) speaks the Seldon executor's external REST API on one machine.
- :mod:`.stack` runs it all as processes (:mod:`.processes`): ``funflix up`` (:mod:`.cli`), and
  :class:`~.stack.LocalStack` in tests and the demo.
- :mod:`.metric_names` lists the Prometheus metrics the dashboards read.
"""
