"""Compile contracts/ and write kpledger/artifacts/contracts.json.

Usage: python scripts/compile.py [--check]
  --check  exit 1 if the committed artifacts differ from a fresh compilation.
"""

from __future__ import annotations

import json
import sys

from kpledger.compiler import (
    ARTIFACTS_PATH,
    ERRORS_MODULE_PATH,
    compile_sources,
    render_error_module,
    write_artifacts,
)


def main(argv: list[str]) -> int:
    fresh = compile_sources()
    if "--check" in argv:
        current = json.loads(ARTIFACTS_PATH.read_text()) if ARTIFACTS_PATH.exists() else None
        errors_current = ERRORS_MODULE_PATH.read_text() if ERRORS_MODULE_PATH.exists() else None
        if current != json.loads(json.dumps(fresh)) or errors_current != render_error_module(fresh):
            print(f"{ARTIFACTS_PATH} is stale: run `make compile` and commit it", file=sys.stderr)
            return 1
        print("artifacts are up to date")
        return 0
    write_artifacts(fresh)
    ERRORS_MODULE_PATH.write_text(render_error_module(fresh), encoding="utf-8")
    for name, contract in fresh["contracts"].items():
        print(f"{name}: {(len(contract['deployedBytecode']) - 2) // 2} bytes runtime")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
