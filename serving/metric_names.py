"""Names of the custom Prometheus metrics the serving components expose (one place for dashboards).

Seldon's wrapper exposes (on the metrics port) a COUNTER ``key`` as ``<key>_total`` and a TIMER
(milliseconds in) as a histogram in seconds ``<key>_bucket/_sum/_count``; every series carries
``model_name`` (the graph node), ``worker_id`` (sum over it), ``method`` (predict / feedback), our
``arm`` tag, and locally ``model_version`` = the artifact version the arm serves (Seldon takes it from
the image tag). Seldon's per-worker bookkeeping loses increments when a worker's threads update it
concurrently, so the feedback counters (impressions, clicks, ignored feedback) come from the feedback
ledger instead, on the component's REST port at ``LEDGER_METRICS_PATH``: the same names and Seldon
labels, plus ``replica`` and without ``worker_id`` / ``method`` (sum over replicas).
"""

RECOMMENDATIONS = "funflix_recommendations"  # lists served by an arm (predict calls)
IMPRESSIONS = "funflix_impressions"  # ledger: lists whose feedback (reward 0 or 1) was credited to the arm
CLICKS = "funflix_clicks"  # ledger: credited feedback with reward 1
FEEDBACK_IGNORED = "funflix_feedback_ignored"  # ledger: feedback not credited, by reason: other_arm, duplicate
LEDGER_METRICS_PATH = "/ledger-metrics"  # where a model component serves the ledger's counters (REST port)
PREDICT_LATENCY = "funflix_predict_seconds"  # TIMER of the top-k computation

# Interleaving (design "interleaving"): the combiner's lists (Seldon metrics port), and each team's credit
# (ledger: its model component credits its own team once per impression, on LEDGER_METRICS_PATH).
INTERLEAVED_LISTS = "funflix_interleaved_lists"  # merged lists served by the combiner
INTERLEAVE_LATENCY = "funflix_interleave_seconds"  # TIMER of the team-draft merge
TEAM_IMPRESSIONS = "funflix_team_impressions"  # ledger: interleaved lists whose feedback the team's arm credited
TEAM_CLICKS = "funflix_team_clicks"  # ledger: clicks on items the team drafted
TEAM_OUTCOMES = "funflix_team_outcomes"  # ledger: per impression, from the team's side: win, loss, tie, no_click

GATEWAY_REQUESTS = "funflix_gateway_requests"  # gateway requests by endpoint, arm and HTTP code
GATEWAY_LATENCY = "funflix_gateway_request_seconds"  # gateway latency by endpoint
GATEWAY_UPSTREAM_ERRORS = "funflix_gateway_upstream_errors"  # component unavailable / timed out / failed
