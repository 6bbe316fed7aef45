"""Panels of the Funflix dashboard, one module per area; ``promql`` builds every expression."""
