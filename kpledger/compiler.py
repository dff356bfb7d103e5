"""Compile the Solidity sources into the artifacts the package ships.

Why a module and not only a script: the artifact freshness test, the build script and
the auditor's bytecode check all need the very same compiler input, so the input is
built in one place. A native ``solc`` is used when one is configured (``KPLEDGER_SOLC``,
``solc`` on PATH of the pinned version, or py-solc-x's install folder); otherwise the
npm solc-js through ``scripts/solcjs.cjs``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from kpledger.errors import BuildError

SOLC_VERSION = "0.8.37"
CONTRACTS = ("ParticipantRegistry", "CertificateLedger", "ExchangeDirectory")
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "london",
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "metadata",
                "evm.bytecode.object",
                "evm.deployedBytecode.object",
                "evm.deployedBytecode.immutableReferences",
            ]
        }
    },
}

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_PATH = Path(__file__).resolve().parent / "artifacts" / "contracts.json"


def source_units(root: Path = REPO_ROOT) -> dict[str, str]:
    """Every project source, keyed by the unit name the compiler sees (imports are
    resolved by the compiler's callback, so only the project's own files are listed)."""
    contracts = root / "contracts"
    if not contracts.is_dir():
        raise BuildError(f"no Solidity sources at {contracts}: run from a clone of the repository")
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(contracts.rglob("*.sol"))
    }


def standard_input(root: Path = REPO_ROOT) -> dict[str, Any]:
    """The solc standard-JSON input, identical for every compiler we run."""
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in source_units(root).items()},
        "settings": SETTINGS,
    }


def find_solc(root: Path = REPO_ROOT) -> Path:
    """Prefer a native solc of the pinned version; fall back to solc-js."""
    configured = os.environ.get("KPLEDGER_SOLC")
    if configured:
        return Path(configured)
    candidates = [shutil.which("solc"), str(Path.home() / ".solcx" / f"solc-v{SOLC_VERSION}")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and _version_of(Path(candidate)) == SOLC_VERSION:
            return Path(candidate)
    wrapper = root / "scripts" / "solcjs.cjs"
    if not (root / "node_modules" / "solc").is_dir():
        raise BuildError("no Solidity compiler: run `npm ci` (installs solc-js) or set KPLEDGER_SOLC")
    return wrapper


def _version_of(binary: Path) -> str | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    for token in out.split():
        if token[:1].isdigit():
            return token.split("+")[0]
    return None


def compile_sources(root: Path = REPO_ROOT) -> dict[str, Any]:
    """Compile and return the artifact document (ABI, bytecode, metadata per contract)."""
    import solcx  # build-time dependency only

    solc = find_solc(root)
    data = standard_input(root)
    try:
        output = solcx.compile_standard(data, solc_binary=solc, allow_paths=str(root))
    except solcx.exceptions.SolcError as exc:
        raise BuildError(f"Solidity compilation failed:\n{exc}") from exc
    contracts: dict[str, Any] = {}
    for unit, by_name in output["contracts"].items():
        for name, compiled in by_name.items():
            if name in CONTRACTS and unit.startswith("contracts/"):
                contracts[name] = {
                    "sourceUnit": unit,
                    "abi": compiled["abi"],
                    "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                    "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                    "immutableReferences": compiled["evm"]["deployedBytecode"]["immutableReferences"],
                    "metadata": compiled["metadata"],
                }
    missing = set(CONTRACTS) - set(contracts)
    if missing:
        raise BuildError(f"compiler output lacks {sorted(missing)}")
    return {
        "compiler": {"version": SOLC_VERSION, "settings": SETTINGS},
        "sourceDigest": source_digest(root),
        "contracts": contracts,
    }


def source_digest(root: Path = REPO_ROOT) -> str:
    """SHA-256 over the sources and settings: a cheap staleness check."""
    digest = hashlib.sha256()
    digest.update(json.dumps(SETTINGS, sort_keys=True).encode())
    for name, text in source_units(root).items():
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def write_artifacts(artifacts: dict[str, Any], path: Path = ARTIFACTS_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(artifacts, indent=1, sort_keys=True) + "\n", encoding="utf-8")


ERRORS_MODULE_PATH = Path(__file__).resolve().parent / "contract_errors.py"
_PY_TYPES = {"string": "str", "address": "str", "bool": "bool"}


def _py_type(solidity_type: str) -> str:
    if solidity_type in _PY_TYPES:
        return _PY_TYPES[solidity_type]
    if solidity_type.startswith(("uint", "int")):
        return "int"
    return "bytes"


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return out.rstrip("_")


def render_error_module(artifacts: dict[str, Any]) -> str:
    """Python source of one exception class per Solidity custom error, so callers can
    ``except CertificateNumberAlreadyUsed as e: e.number``. Docstrings come from the
    errors' NatSpec notices in the compiler metadata."""
    errors: dict[str, tuple[list[dict[str, Any]], str]] = {}
    for contract in artifacts["contracts"].values():
        output = json.loads(contract["metadata"])["output"]
        userdoc = output["userdoc"].get("errors", {})
        devdoc = output["devdoc"].get("errors", {})
        for item in contract["abi"]:
            if item["type"] != "error":
                continue
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            notice = (userdoc.get(signature) or [{}])[0].get("notice", "")
            notice = notice or (devdoc.get(signature) or [{}])[0].get("details", "")
            errors[item["name"]] = (item["inputs"], " ".join(notice.split()))
    lines = [
        '"""Typed exceptions for the contracts\' custom errors.',
        "",
        "Generated by scripts/compile.py from the ABI and NatSpec; do not edit. Each class",
        "carries the error's arguments as attributes and in ``args_``.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from kpledger.errors import ContractError",
        "",
    ]
    for name in sorted(errors):
        inputs, notice = errors[name]
        lines += ["", f"class {name}(ContractError):"]
        lines.append(f'    """{notice or name}"""')
        lines += ["", f'    solidity_name = "{name}"', f"    notice = {notice!r}"]
        for item in inputs:
            attribute = _snake(item["name"]) or "value"
            lines += [
                "",
                "    @property",
                f"    def {attribute}(self) -> {_py_type(item['type'])}:",
                f"        value: {_py_type(item['type'])} = self.args_[{item['name']!r}]",
                "        return value",
            ]
        lines.append("")
    lines += [
        "",
        "BY_NAME: dict[str, type[ContractError]] = {",
        *[f"    {name!r}: {name}," for name in sorted(errors)],
        "}",
        "",
    ]
    return "\n".join(lines)
