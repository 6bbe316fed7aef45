"""Column names, arm names and error codes shared by the statistics modules."""

from __future__ import annotations

# Event-store columns (contract: funflix.website.store.load_impressions).
IMPRESSION_ID = "impression_id"
USER_ID = "user_id"
ARM = "arm"
CREATED_AT = "created_at"
CLICKED = "clicked"
REQUIRED_COLUMNS = (IMPRESSION_ID, USER_ID, ARM, CREATED_AT, CLICKED)
STATUS = "status"  # optional: "open" rows may still be clicked
FEEDBACK_STATE = "feedback_state"  # optional: "dead" rows (Seldon refused their feedback) are left out
DEAD_LETTERED = "dead"
VISIT = "visit"    # optional: the visit (one sitting of a user) the row was shown in; default: its own

DEFAULT_CONTROL = "control"
DEFAULT_CHALLENGER = "challenger"  # the interleaving analysis's second team

# Error codes: degenerate input gives a default result carrying one of these, never NaN.
NO_DATA = "NO_DATA"                      # an arm (or the whole experiment) has no impressions
NO_CLICKS = "NO_CLICKS"                  # no clicks in any arm: zero variance, nothing to test
ZERO_VARIANCE = "ZERO_VARIANCE"          # the estimate's variance is zero (all 0s or all 1s)
TOO_FEW_UNITS = "TOO_FEW_UNITS"          # fewer than two users in an arm (no user-level variance)
BASELINE_ZERO = "BASELINE_ZERO"          # relative lift undefined: control CTR is zero
ONE_ARM_ONLY = "ONE_ARM_ONLY"            # nothing to compare against
