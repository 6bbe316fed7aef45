"""Run every benchmark quoted in the README, one after another (``make bench``, ~35 min).

The ML-25M-sized scale run is separate (``bench_models.py scale``, ~1 h on 2 cores).
Run it on a quiet machine: the figures are medians and ratios, but they share 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ["bench_models.py", "topk", "pipeline"],
    ["bench_serving.py"],
    ["bench_website.py"],
    ["bench_simulation.py"],
    ["bench_sequential_calibration.py"],
    ["bench_sequential_populations.py"],
    ["bench_simulated_lift.py", "--stack"],
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
