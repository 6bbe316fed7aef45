"""Write requirements/<env>.txt, one hash-pinned lock per environment, from pyproject.toml (``make lock``).

Runs uv's resolver for Python 3.11 on Linux; an existing lock's pins are kept unless ``--upgrade``
(``make lock UPGRADE=1``) asks for the newest releases that pyproject.toml allows.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from funflix.environments import (ENVIRONMENTS, FINGERPRINT_PREFIX, Environment, build_requirements, fingerprint,
                                  lock_inputs)
from funflix.paths import REPO_ROOT


def compile_lock(environment: Environment, uv: str, upgrade: bool) -> None:
    inputs = lock_inputs(environment)
    command = [uv, "pip", "compile", "pyproject.toml", "-", "--python-version", "3.11", "--python-platform", "linux",
               "--generate-hashes", "--no-header", "--quiet", "-o", str(environment.lock)]
    for extra in environment.extras:
        command += ["--extra", extra]
    if upgrade:
        command.append("--upgrade")
    # The build requirements (no extra holds them) reach uv on stdin; pyproject.toml brings the rest.
    subprocess.run(command, input="\n".join(build_requirements()), text=True, check=True, cwd=REPO_ROOT)
    header = (f"# The {environment.name} environment ({environment.venv}): extras {', '.join(environment.extras)}.\n"
              f"# Written by `make lock` (requirements/lock.py); install with\n"
              f"#   pip install --require-hashes --no-deps --no-build-isolation -r {environment.lock.name}\n"
              f"{FINGERPRINT_PREFIX}{fingerprint(inputs)}\n")
    environment.lock.write_text(header + environment.lock.read_text())
    # The build tools and what they need, at the same pins, for the first install step.
    subprocess.run([uv, "pip", "compile", "-", "--constraint", str(environment.lock), "--python-version", "3.11",
                    "--python-platform", "linux", "--generate-hashes", "--no-header", "--quiet",
                    "-o", str(environment.build_lock)],
                   input="\n".join(build_requirements()), text=True, check=True, cwd=REPO_ROOT)
    environment.build_lock.write_text(f"# The build tools of the {environment.name} environment, pinned as in "
                                      f"{environment.lock.name}; installed first.\n" + environment.build_lock.read_text())
    print(f"wrote {environment.lock.relative_to(REPO_ROOT)} and {environment.build_lock.relative_to(REPO_ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="move every pin to the newest allowed release")
    args = parser.parse_args(argv)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        parser.error("uv is not installed (it comes with the main environment's dev extra: make install)")
    for environment in ENVIRONMENTS:
        compile_lock(environment, uv, args.upgrade)
    return 0


if __name__ == "__main__":
    sys.exit(main())
