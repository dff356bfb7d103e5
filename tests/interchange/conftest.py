"""Runs the independent npm checker (scripts/interchange_check.mjs) once per session."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "docs" / "vectors"
SCHEMA = ROOT / "docs" / "schema" / "certificate-v1.schema.json"


@pytest.fixture(scope="session")
def npm_check() -> Callable[[list[str]], dict[str, Any]]:
    """Call the npm checker with extra document texts for its ajv validation."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "ajv").is_dir():
        pytest.fail("node and the npm dev dependencies are needed (make setup)")

    def run(instances: list[str]) -> dict[str, Any]:
        done = subprocess.run(
            [node, str(ROOT / "scripts" / "interchange_check.mjs")],
            input=json.dumps({"instances": instances}).encode(),
            capture_output=True,
            check=False,
            timeout=60,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr.decode()
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return run
