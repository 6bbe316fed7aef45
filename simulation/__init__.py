"""Simulated users: real MovieLens users whose clicks follow their held-out tastes.

``tastes`` (what each user truly likes), ``click_model`` (cascade model with position bias and a
no-click option), ``click_calibration`` (one constant per run: the control arm's lists earn 7%),
``http_visitor`` and ``browser`` (the same visits over plain HTTP or in headless Chromium),
``runner`` (parallel workers, pacing, progress, Ctrl-C), ``simulate`` (one run and its report),
``cli`` (``funflix simulate``).
"""
