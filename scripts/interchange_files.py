"""Write (or check) the generated interchange files: docs/schema/ and docs/vectors/.

    python scripts/interchange_files.py          # regenerate
    python scripts/interchange_files.py --check  # exit 1 if a committed file is stale

Both are derived from the library (kpledger.interchange), so a change to a code list,
a limit or the hashing shows up as a diff here and fails the test that runs --check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kpledger.interchange import build_vectors, certificate_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "docs" / "schema" / "certificate-v1.schema.json"
VECTORS_DIR = ROOT / "docs" / "vectors"


def expected_files() -> dict[Path, bytes]:
    """Every generated file and its bytes."""
    files = {SCHEMA_PATH: (json.dumps(certificate_schema(), indent=2, ensure_ascii=False) + "\n").encode()}
    for item in build_vectors():
        files[VECTORS_DIR / item.path] = item.data
    return files


def stale_files() -> list[Path]:
    """Generated files whose committed bytes differ from the library's, or that are missing."""
    return [
        path for path, data in expected_files().items() if not path.is_file() or path.read_bytes() != data
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(
                f"stale: {path.relative_to(ROOT)} (run python scripts/interchange_files.py)", file=sys.stderr
            )
        return 1 if stale else 0
    for path, data in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
