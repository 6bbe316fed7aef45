"""SECURITY.md has one row for every package each lock pins, at the locked version."""

from __future__ import annotations

import re

import pytest
from packaging.utils import canonicalize_name

from funflix.environments import ENVIRONMENTS, locked_pins
from funflix.paths import REPO_ROOT

ROW = re.compile(r"^\| ([A-Za-z0-9][A-Za-z0-9._-]*) \| (\d[^ |]*) \|", re.MULTILINE)  # not the header row


def documented(environment_name: str) -> dict[str, str]:
    """``{package: version}`` of the table under SECURITY.md's heading for one environment."""
    text = (REPO_ROOT / "SECURITY.md").read_text()
    section = re.search(rf"^## {environment_name.capitalize()} environment.*?(?=^## |\Z)", text, re.M | re.S)
    assert section, f"SECURITY.md has no '## {environment_name.capitalize()} environment' section"
    return {canonicalize_name(name): version for name, version in ROW.findall(section.group(0))}


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda e: e.name)
def test_security_md_lists_every_locked_package_at_its_version(environment):
    locked, listed = locked_pins(environment.lock), documented(environment.name)
    missing = {name: version for name, version in locked.items() if listed.get(name) != version}
    stale = sorted(set(listed) - set(locked))
    assert (missing, stale) == ({}, []), \
        f"update SECURITY.md's {environment.name} table: add or re-version {missing}, drop {stale}"
