"""The Helm chart and the cluster: one module per job.

- :mod:`.chart`: helm itself (template, NOTES.txt, lint); :mod:`.values`: values.yaml, ``-f`` and ``--set``.
- :mod:`.graph`: the graph's component processes and the experiment as either rendering gives them.
- :mod:`.validation`: offline checks; :mod:`.server`: the same documents through a live API server.
- :mod:`.api`: the Kubernetes client; :mod:`.target`: where a release's split lives; :mod:`.operations`: status,
  split, promote, rollback, start-experiment; :mod:`.policy`, :mod:`.ramp`, :mod:`.watch`: the analysis loop.
- :mod:`.cli` and :mod:`.cluster_cli`: the ``funflix k8s`` command.
"""

from .chart import CHART_DIR, HELM_VERSION, documents, helm_binary, lint, render, render_notes
from .cli import register
from .validation import DEFAULT_CRD, core_errors, seldon_errors, seldon_schema, validate
from .values import apply_set, load_values, merge_values

__all__ = ["CHART_DIR", "DEFAULT_CRD", "HELM_VERSION", "apply_set", "core_errors", "documents", "helm_binary", "lint",
           "load_values", "merge_values", "register", "render", "render_notes", "seldon_errors", "seldon_schema",
           "validate"]
