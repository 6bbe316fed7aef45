"""Run every benchmark quoted in the README, with the README's flags, one after another (``make bench``,
~70 min; the analysis benchmark generates 1M- and 10M-impression stores on its first run).

The ML-25M-sized scale run is separate (``bench_models.py scale``, ~1 h on 2 cores).
Run it on a quiet machine: the figures are medians and ratios, but they share 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Exactly the commands the README quotes beside each table.
RUNS = [
    ["bench_models.py", "topk", "pipeline"],
    ["bench_serving.py", "--rounds", "5"],
    ["bench_counting.py"],
    ["bench_website.py", "--seconds", "30"],
    ["bench_simulation.py", "--http-workers", "8"],
    ["bench_sequential_calibration.py"],
    ["bench_sequential_populations.py"],
    ["bench_simulated_lift.py"],
    ["bench_analysis.py"],
    ["bench_batch.py"],
    ["bench_chart.py", "--rounds", "3", "--duration", "5"],  # starts the test cluster (behind its lock)
    ["bench_watch.py"],
    # the interleaving benchmarks
    ["bench_interleaving_serving.py", "--rounds", "5"],
    ["bench_interleaving_sensitivity.py"],
    ["bench_interleaving_sensitivity.py", "--shared-clicks", "tie", "--aa-reps", "0", "--visits", "1"],
]


def main() -> int:
    failed = []
    for script, *args in RUNS:
        print(f"\n### {script} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *args]).returncode:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
