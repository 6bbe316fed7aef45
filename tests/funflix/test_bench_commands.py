"""`make bench` runs the benchmarks exactly as the README quotes them."""

import importlib.util
import re

from funflix import paths


def test_make_bench_runs_every_benchmark_the_readme_quotes_with_its_flags():
    spec = importlib.util.spec_from_file_location("run_all", paths.REPO_ROOT / "benchmarks" / "run_all.py")
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    readme = (paths.REPO_ROOT / "README.md").read_text()
    quoted = {tuple(command.split()) for command in re.findall(r"`\.venv/bin/python benchmarks/([^`]+)`", readme)}
    quoted.discard(("bench_models.py", "scale"))  # the hour-long ML-25M run is separate, as the README says
    assert quoted and quoted <= {tuple(run) for run in run_all.RUNS}
