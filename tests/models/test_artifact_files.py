"""Artifact files get the mode any new file gets (the umask's), not a temporary file's 0600: a serving
image's non-root user must read what `funflix train` wrote as another user."""

from __future__ import annotations

import stat

from funflix.models.artifacts import write_metadata


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_artifact_file_has_the_umask_mode(quick_models_root, tmp_path):
    (tmp_path / "plain").write_text("x")
    expected = _mode(tmp_path / "plain")
    files = [p for p in quick_models_root.rglob("*") if p.is_file()]
    assert any(p.name == "LATEST" for p in files) and any(p.name == "metadata.json" for p in files)
    assert {p.relative_to(quick_models_root).as_posix(): _mode(p) for p in files} == \
        {p.relative_to(quick_models_root).as_posix(): expected for p in files}


def test_rewritten_metadata_keeps_the_umask_mode(tmp_path):
    (tmp_path / "plain").write_text("x")
    write_metadata(tmp_path, {"version": "v1"})
    assert _mode(tmp_path / "metadata.json") == _mode(tmp_path / "plain")
