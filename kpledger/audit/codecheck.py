"""Which code enforced the rules: deployed runtime code against the repository's.

Why it matters to an auditor: the index says what the contracts did; only the code
says what they could not do. The deployed runtime code is compared with the code
compiled from the repository's sources: immutable slots (filled in by the constructor)
are read out and masked, and the solc metadata trailer, whose IPFS hash commits to
the exact source text, tells "the same sources" from "the same code from other text".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpledger import bytecode
from kpledger.audit.source import ChainSource
from kpledger.chain import artifacts
from kpledger.chain.deployment import Deployment
from kpledger.errors import BuildError


@dataclass
class BytecodeCheck:
    """Deployed runtime code of one contract against the code compiled from sources.

    ``verdict``: ``identical`` (byte for byte once the immutable slots are masked, so
    the metadata hash, which commits to the exact sources, matches too),
    ``identical-except-metadata`` (same executable code; the sources differ only where
    the metadata sees it: comments, file names, settings), ``different``, or
    ``no-code``."""

    contract: str
    address: str
    compiled_from: str
    verdict: str
    deployed_size: int
    compiled_size: int
    deployed_solc: str | None = None
    compiled_solc: str | None = None
    deployed_metadata: str | None = None
    compiled_metadata: str | None = None
    first_difference: int | None = None
    immutables: dict[str, str] = field(default_factory=dict)
    immutables_ok: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == "identical" and self.immutables_ok is not False


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def check_bytecode(
    source: ChainSource,
    deployment: Deployment,
    *,
    block: int | str = "latest",
    compiled: Mapping[str, Any] | None = None,
    from_sources: bool = True,
    root: Path | None = None,
) -> list[BytecodeCheck]:
    """Compare each deployed contract's runtime code with the repository's.

    ``compiled`` is an artifact document (``compile_sources()`` output); by default the
    sources under ``root`` (the repository) are compiled now, falling back to the
    artifacts shipped in the package (said so in ``compiled_from``) when no compiler
    is available. Immutable slots are read out of the deployed code and masked before
    comparing; the ledger's only immutable must be the deployment's registry address."""
    label = "given artifacts"
    notes: list[str] = []
    if compiled is None and from_sources:
        from kpledger import compiler

        try:
            compiled = compiler.compile_sources(root or compiler.REPO_ROOT)
            label = "sources"
        except (BuildError, ImportError, OSError) as exc:
            notes.append(f"could not compile the sources ({exc}); compared with the shipped artifacts")
    if compiled is None:
        compiled = artifacts.artifacts()
        label = "artifacts" if not notes else "artifacts (sources not compilable)"
    expected_immutables = {"CertificateLedger": deployment.registry.lower()}
    checks = []
    for name, address in (
        ("ParticipantRegistry", deployment.registry),
        ("CertificateLedger", deployment.ledger),
    ):
        art = compiled["contracts"][name]
        check = _check_one(
            name, address, source.code(address, block), art, label, expected_immutables.get(name)
        )
        check.notes = [*notes, *check.notes]
        checks.append(check)
    return checks


def _metadata(code: bytes) -> tuple[str | None, str | None]:
    try:
        meta = bytecode.decode_metadata(code)
    except bytecode.BytecodeError:
        return None, None
    ipfs = meta.get("ipfs")
    try:
        version: str | None = bytecode.solc_version(meta)
    except bytecode.BytecodeError:
        version = None
    return version, _hex(ipfs) if isinstance(ipfs, bytes) else None


def _check_one(
    name: str, address: str, deployed: bytes, art: Mapping[str, Any], label: str, immutable_value: str | None
) -> BytecodeCheck:
    compiled = bytecode.to_bytes(art["deployedBytecode"])
    refs: Mapping[str, Iterable[Mapping[str, Any]]] = art.get("immutableReferences") or {}
    check = BytecodeCheck(name, address.lower(), label, "different", len(deployed), len(compiled))
    check.compiled_solc, check.compiled_metadata = _metadata(compiled)
    if not deployed:
        check.verdict = "no-code"
        check.notes.append("no code at this address")
        return check
    check.deployed_solc, check.deployed_metadata = _metadata(deployed)
    if len(deployed) != len(compiled):
        check.notes.append(f"sizes differ: deployed {len(deployed)} bytes, compiled {len(compiled)} bytes")
        check.first_difference = _first_difference(deployed, compiled)
        return check
    check.immutables, consistent = _immutables(deployed, refs)
    if not consistent:
        check.notes.append("an immutable holds different values at its references")
    masked_deployed = bytecode.mask_immutables(deployed, refs)
    masked_compiled = bytecode.mask_immutables(compiled, refs)
    if masked_deployed == masked_compiled:
        check.verdict = "identical"
    elif bytecode.strip_metadata(masked_deployed) == bytecode.strip_metadata(masked_compiled):
        check.verdict = "identical-except-metadata"
        check.notes.append("same executable code; the metadata hash differs, so the sources differ in text")
    else:
        check.first_difference = _first_difference(masked_deployed, masked_compiled)
    if immutable_value is not None:
        expected = "0x" + immutable_value[2:].rjust(64, "0")
        check.immutables_ok = (
            consistent and bool(check.immutables) and all(v == expected for v in check.immutables.values())
        )
        if not check.immutables_ok:
            check.notes.append(
                f"immutables {check.immutables} are not the registry address {immutable_value}"
            )
    elif check.immutables:
        check.immutables_ok = consistent
    return check


def _immutables(code: bytes, refs: Mapping[str, Iterable[Mapping[str, Any]]]) -> tuple[dict[str, str], bool]:
    values: dict[str, str] = {}
    consistent = True
    for ast_id, slots in refs.items():
        seen = {_hex(code[int(r["start"]) : int(r["start"]) + int(r["length"])]) for r in slots}
        consistent = consistent and len(seen) == 1
        values[f"ast:{ast_id}"] = sorted(seen)[0] if seen else ""
    return values, consistent


def _first_difference(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))
