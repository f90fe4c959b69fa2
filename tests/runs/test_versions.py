"""installed_version reads the same version importlib.metadata parses, for every
distribution installed here, and for metadata written by hand."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import distributions, version
from pathlib import Path

import pytest

from rbt.runs.versions import PackageNotFoundError, installed_version


def test_every_installed_distribution_reads_as_importlib_metadata_says() -> None:
    names = sorted({d.metadata["Name"] for d in distributions()})
    assert len(names) > 20  # the project's environment, not an empty path
    for name in names:
        assert installed_version(name) == version(name), name


def _site(tmp_path: Path, folder: str, files: dict[str, str]) -> Path:
    info = tmp_path / folder
    info.mkdir()
    for file, text in files.items():
        (info / file).write_text(text)
    return tmp_path


def _outcome(read: Callable[[str], str | None], name: str) -> object:
    """What ``read(name)`` returns, or the type of what it raises."""
    try:
        return read(name)
    except Exception as exc:
        return type(exc)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # a Version line in the body (after the blank line) is not a header
        (
            {"METADATA": "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.2.3\n\nVersion: 9\n"},
            "1.2.3",
        ),
        # no Version header at all: what importlib.metadata makes of it (None from the
        # standard library; a KeyError once importlib_metadata's finder is installed)
        ({"METADATA": "Metadata-Version: 2.1\nName: demo-pkg\n\nVersion: 9\n"}, None),
        # an egg-info's PKG-INFO, its header name in lower case
        ({"PKG-INFO": "Metadata-Version: 1.0\nName: demo-pkg\nversion:  0.4 \n"}, "0.4 "),
    ],
)
def test_hand_written_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], expected: str | None
) -> None:
    folder = "demo_pkg-0.0.dist-info" if "METADATA" in files else "demo_pkg.egg-info"
    monkeypatch.setattr(sys, "path", [str(_site(tmp_path, folder, files)), *sys.path])
    assert _outcome(installed_version, "demo-pkg") == _outcome(version, "demo-pkg")
    if expected is not None:
        assert installed_version("demo-pkg") == expected


def test_a_missing_package_raises_as_importlib_metadata_does() -> None:
    with pytest.raises(PackageNotFoundError):
        installed_version("no-such-distribution-rbt")
