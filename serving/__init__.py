"""Serving: the two arms as Seldon Core v1 components behind a sticky A/B router, and the local stack.

- :mod:`.experiment_config` reads the experiment (arms, split, salt, routing) from the chart's values.yaml.
- :mod:`.RecommenderModel` is the MODEL component (one class, either arm), :mod:`.ABRouter` the ROUTER.
- :mod:`.gateway` speaks the Seldon executor's external REST API in front of them on one machine.
- :mod:`.stack` runs it all as processes (``funflix up``, :class:`~.stack.LocalStack` in tests).
- :mod:`.metric_names` lists the Prometheus metrics the dashboards read.
"""
