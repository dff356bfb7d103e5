"""Setting up a fresh clone leaves `git status` clean: npm installs from the committed
lock with `npm ci` (which never rewrites it), the lock is what npm resolves on this
platform, everything setup creates is ignored, and the package metadata uses the
current (non-deprecated) form."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CREATED_BY_SETUP = (".venv", "node_modules", "kpledger.egg-info", "kpledger/__pycache__", ".hypothesis")


def test_the_makefile_installs_node_packages_from_the_lock() -> None:
    recipe = (ROOT / "Makefile").read_text(encoding="utf-8")
    rule = re.search(r"^node_modules/\.installed:.*\n((?:\t.*\n)+)", recipe, flags=re.M)
    assert rule is not None
    assert re.search(r"^\tnpm ci\b", rule.group(1), flags=re.M), rule.group(1)
    assert "npm install" not in rule.group(1)


def test_the_committed_lock_is_what_npm_resolves_here(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run(
        [npm, "install", "--package-lock-only", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0 and "ENOTFOUND" in done.stderr + done.stdout:
        pytest.skip("the npm registry is not reachable")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "package-lock.json").read_bytes() == (ROOT / "package-lock.json").read_bytes(), (
        "npm rewrites package-lock.json on this platform: run `npm install` and commit the lock"
    )


def test_what_setup_creates_is_ignored() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(
        ["git", "check-ignore", *CREATED_BY_SETUP], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert set(done.stdout.split()) == set(CREATED_BY_SETUP), done.stdout


def test_package_metadata_has_no_deprecated_license_table() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert isinstance(project["project"]["license"], str)  # an SPDX expression (PEP 639)
    assert not any(c.startswith("License ::") for c in project["project"].get("classifiers", []))
    backend = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert backend == ["setuptools>=77"]  # the first setuptools that reads a license string
