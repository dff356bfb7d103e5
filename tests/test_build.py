"""The build is reproducible.

1. The committed artifacts are what the sources compile to today (so a contract change
   without ``make compile`` fails here, not on a chain).
2. An independent Hardhat 3 build of the same sources gives the same code. Hardhat
   names sources ``project/contracts/...`` and ``npm/@openzeppelin/contracts@x.y.z/...``
   and adds a remapping, which changes the metadata JSON and so its hash at the end of
   the code; everything before that hash must be identical, and our metadata rewritten
   with Hardhat's names must hash to exactly the hash in Hardhat's code.
3. The Solidity tests in test/ pass under ``hardhat test solidity``.
4. :mod:`kpledger.bytecode`, which the auditor uses to compare deployed code with
   compiled code, on synthetic and on real code.

Hardhat runs on the Node 22 from ``node_modules`` (``make setup``); a missing toolchain
is a failure, never a skip. The Hardhat build takes about 5 s, its tests 3 s more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kpledger.bytecode import (
    BytecodeError,
    decode_metadata,
    mask_immutables,
    metadata_ipfs_hash,
    metadata_spans,
    runtime_matches,
    solc_version,
    split_metadata,
    strip_metadata,
    to_bytes,
)
from kpledger.compiler import (
    ARTIFACTS_PATH,
    CONTRACTS,
    REPO_ROOT,
    SETTINGS,
    SOLC_VERSION,
    compile_sources,
    source_digest,
)

NODE = REPO_ROOT / "node_modules" / ".bin" / "node"
HARDHAT_CLI = REPO_ROOT / "node_modules" / "hardhat" / "dist" / "src" / "cli.js"
HARDHAT_TIMEOUT_S = 300

Json = dict[str, Any]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def committed() -> Json:
    document: Json = json.loads(ARTIFACTS_PATH.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def fresh() -> Json:
    # Through JSON, as write_artifacts stores it (tuples become lists, etc.).
    document: Json = json.loads(json.dumps(compile_sources()))
    return document


@pytest.fixture(scope="module")
def hardhat_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run ``hardhat build`` with artifacts and cache in a temporary directory
    (hardhat.config.js reads KPLEDGER_HARDHAT_OUT), so the working tree is untouched."""
    for tool in (NODE, HARDHAT_CLI):
        assert tool.is_file(), f"{tool} is missing: run `make setup` (npm ci)"
    out = tmp_path_factory.mktemp("hardhat")
    env = {**os.environ, "KPLEDGER_HARDHAT_OUT": str(out)}
    command = [str(NODE), str(HARDHAT_CLI), "build", "--no-tests", "--quiet"]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HARDHAT_TIMEOUT_S
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    yield out / "artifacts"
    shutil.rmtree(out, ignore_errors=True)


def _hardhat_artifact(artifacts: Path, committed: Json, name: str) -> Json:
    unit = committed["contracts"][name]["sourceUnit"]
    artifact: Json = json.loads((artifacts / unit / f"{name}.json").read_text(encoding="utf-8"))
    return artifact


def _build_info(artifacts: Path, build_info_id: str) -> Json:
    info: Json = json.loads((artifacts / "build-info" / f"{build_info_id}.json").read_text(encoding="utf-8"))
    return info


def _build_infos(artifacts: Path) -> list[Json]:
    paths = sorted(
        p for p in (artifacts / "build-info").glob("*.json") if not p.name.endswith(".output.json")
    )
    assert paths, f"Hardhat wrote no build info under {artifacts}"
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def _immutable_slots(refs: dict[str, list[dict[str, int]]]) -> list[tuple[int, int]]:
    """Slots without the AST ids that key them (ids depend on source order and names)."""
    return sorted((ref["start"], ref["length"]) for slots in refs.values() for ref in slots)


def _settings_without_output(settings: Json) -> Json:
    return {k: v for k, v in settings.items() if k not in ("outputSelection", "remappings")}


def _canonical_json(document: Json) -> str:
    """How solc serialises metadata: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _as_hardhat_metadata(metadata: str, build_info: Json) -> str:
    """Our metadata JSON with the source names and remappings of Hardhat's build."""
    project_names: dict[str, str] = build_info["userSourceNameMap"]
    remappings: list[str] = build_info["input"]["settings"].get("remappings", [])
    prefixes: list[tuple[str, str]] = []
    for remapping in remappings:
        _context, _, rule = remapping.rpartition(":")
        prefix, _, target = rule.partition("=")
        prefixes.append((prefix, target))
    prefixes.sort(key=lambda pair: len(pair[0]), reverse=True)

    def rename(name: str) -> str:
        if name in project_names:
            return project_names[name]
        for prefix, target in prefixes:
            if name.startswith(prefix):
                return target + name[len(prefix) :]
        raise AssertionError(f"Hardhat's build info has no name for source {name}")

    document: Json = json.loads(metadata)
    document["sources"] = {rename(k): v for k, v in document["sources"].items()}
    settings = document["settings"]
    settings["compilationTarget"] = {rename(k): v for k, v in settings["compilationTarget"].items()}
    settings["remappings"] = remappings
    return _canonical_json(document)


# ------------------------------------------------------------ 1. committed artifacts


def test_committed_artifacts_match_a_fresh_compilation(committed: Json, fresh: Json) -> None:
    hint = "kpledger/artifacts/contracts.json is stale: run `make compile` and commit it"
    assert committed["compiler"] == fresh["compiler"], hint
    assert committed["sourceDigest"] == fresh["sourceDigest"], hint
    assert sorted(committed["contracts"]) == sorted(fresh["contracts"]) == sorted(CONTRACTS), hint
    for name in CONTRACTS:
        ours, new = committed["contracts"][name], fresh["contracts"][name]
        for key in ("sourceUnit", "abi", "bytecode", "deployedBytecode", "immutableReferences", "metadata"):
            assert ours[key] == new[key], f"{name}.{key} differs: {hint}"
    assert committed == fresh, hint


def test_committed_metadata_hash_is_the_one_in_the_code(committed: Json) -> None:
    """The metadata stored next to the bytecode is the metadata the code commits to."""
    for name in CONTRACTS:
        contract = committed["contracts"][name]
        cbor = decode_metadata(contract["deployedBytecode"])
        assert cbor["ipfs"] == metadata_ipfs_hash(contract["metadata"]), name
        assert solc_version(cbor) == SOLC_VERSION
        # solc writes metadata canonically; the Hardhat comparison below relies on it.
        assert _canonical_json(json.loads(contract["metadata"])) == contract["metadata"]


def test_source_digest_notices_a_changed_source(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "contracts", tmp_path / "contracts")
    before = source_digest(tmp_path)
    assert before == source_digest(REPO_ROOT)
    target = tmp_path / "contracts" / "ParticipantRegistry.sol"
    target.write_text(target.read_text(encoding="utf-8") + "\n// changed\n", encoding="utf-8")
    assert source_digest(tmp_path) != before


# ------------------------------------------------------ 2./3. Hardhat agrees, tests pass


def test_hardhat_compiles_with_our_compiler_and_settings(hardhat_artifacts: Path) -> None:
    ours = _settings_without_output(SETTINGS)
    for info in _build_infos(hardhat_artifacts):
        assert info["solcVersion"] == SOLC_VERSION
        assert info["input"]["language"] == "Solidity"
        assert _settings_without_output(info["input"]["settings"]) == ours, (
            "hardhat.config.js settings drifted from kpledger/compiler.py SETTINGS"
        )
        # Same text for every project source Hardhat compiled.
        for ours_name, hardhat_name in info["userSourceNameMap"].items():
            text = (REPO_ROOT / ours_name).read_text(encoding="utf-8")
            assert info["input"]["sources"][hardhat_name]["content"] == text, ours_name


@pytest.mark.parametrize("name", CONTRACTS)
def test_hardhat_bytecode_matches_ours(name: str, committed: Json, hardhat_artifacts: Path) -> None:
    ours = committed["contracts"][name]
    theirs = _hardhat_artifact(hardhat_artifacts, committed, name)
    assert theirs["abi"] == ours["abi"]
    assert _immutable_slots(theirs["immutableReferences"]) == _immutable_slots(ours["immutableReferences"])

    # Runtime code: identical up to the metadata trailer, which has the same shape.
    our_body, our_trailer = split_metadata(ours["deployedBytecode"])
    their_body, their_trailer = split_metadata(theirs["deployedBytecode"])
    assert their_body == our_body
    our_cbor, their_cbor = (
        decode_metadata(ours["deployedBytecode"]),
        decode_metadata(theirs["deployedBytecode"]),
    )
    assert sorted(their_cbor) == sorted(our_cbor) == ["ipfs", "solc"]
    assert solc_version(their_cbor) == solc_version(our_cbor) == SOLC_VERSION
    assert len(their_trailer) == len(our_trailer)

    # Creation code embeds the runtime code (and may carry data after it): same length,
    # metadata in the same places, identical everywhere else.
    our_creation, their_creation = to_bytes(ours["bytecode"]), to_bytes(theirs["bytecode"])
    assert len(their_creation) == len(our_creation)
    assert metadata_spans(their_creation) == metadata_spans(our_creation) != []
    assert strip_metadata(their_creation) == strip_metadata(our_creation)

    # The only difference is the source names: our metadata under Hardhat's names
    # hashes to exactly the hash in Hardhat's code.
    build_info = _build_info(hardhat_artifacts, theirs["buildInfoId"])
    renamed = _as_hardhat_metadata(ours["metadata"], build_info)
    assert metadata_ipfs_hash(renamed) == their_cbor["ipfs"]
    assert runtime_matches(theirs["deployedBytecode"], ours["deployedBytecode"], {}, ignore_metadata=True)


def test_hardhat_solidity_tests_pass(hardhat_artifacts: Path) -> None:
    """test/*.t.sol on EDR, reusing the build's cache (about 3 s more)."""
    env = {**os.environ, "KPLEDGER_HARDHAT_OUT": str(hardhat_artifacts.parent)}
    command = [str(NODE), str(HARDHAT_CLI), "test", "solidity"]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HARDHAT_TIMEOUT_S
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    assert " passing" in result.stdout and " failing" not in result.stdout, result.stdout


# ------------------------------------------------------------- 4. kpledger.bytecode

IPFS_HASH = bytes.fromhex("1220") + bytes(range(32))
SOLC_0_8_37 = bytes([0, 8, 37])


def _cbor_metadata(ipfs: bytes = IPFS_HASH, solc: bytes = SOLC_0_8_37) -> bytes:
    """The block solc appends: {"ipfs": <34 bytes>, "solc": <3 bytes>} || uint16 length."""
    cbor = b"\xa2" + b"\x64ipfs" + b"\x58\x22" + ipfs + b"\x64solc" + b"\x43" + solc
    return cbor + len(cbor).to_bytes(2, "big")


BODY = bytes.fromhex("6080604052348015600e575f5ffd5b50") + b"\xfe"


def test_split_and_decode_runtime_metadata() -> None:
    code = BODY + _cbor_metadata()
    body, trailer = split_metadata("0x" + code.hex())
    assert body == BODY
    assert trailer == _cbor_metadata()
    assert trailer[-2:] == b"\x00\x33"  # 51 bytes of CBOR, as in every solc 0.8 build
    metadata = decode_metadata(code)
    assert metadata == {"ipfs": IPFS_HASH, "solc": SOLC_0_8_37}
    assert solc_version(metadata) == "0.8.37"
    assert strip_metadata(code.hex()) == BODY


def test_creation_code_with_data_after_the_runtime() -> None:
    """As ParticipantRegistry's creation code: the runtime's metadata is not the tail."""
    runtime = BODY + _cbor_metadata()
    data = bytes(range(200, 232))
    creation = bytes.fromhex("60806040") + runtime + data
    assert metadata_spans(creation) == [(4 + len(BODY), 4 + len(runtime))]
    assert strip_metadata(creation) == bytes.fromhex("60806040") + BODY + data
    with pytest.raises(BytecodeError):
        split_metadata(creation)


def test_code_without_metadata() -> None:
    for code in ("0x", "0x6000", "600060005500"):
        assert strip_metadata(code) == to_bytes(code)
        assert metadata_spans(code) == []
        with pytest.raises(BytecodeError):
            split_metadata(code)
    # A trailer length pointing at something that is not solc's CBOR map.
    with pytest.raises(BytecodeError):
        split_metadata(bytes(60) + b"\x00\x33")


def test_to_bytes_accepts_hex_forms_and_rejects_placeholders() -> None:
    assert to_bytes("0xABcd") == to_bytes("abcd") == to_bytes(b"\xab\xcd") == b"\xab\xcd"
    with pytest.raises(BytecodeError, match="placeholder"):
        to_bytes("0x73__$5f2a0b1c$__63")
    with pytest.raises(BytecodeError):
        to_bytes("0xzz")


def test_mask_immutables_and_runtime_matches() -> None:
    compiled = BODY + bytes(32) + b"\x5b" + _cbor_metadata()
    refs = {"55": [{"start": len(BODY), "length": 32}]}
    address = bytes(12) + bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
    deployed = BODY + address + b"\x5b" + _cbor_metadata()
    assert mask_immutables(deployed, refs) == compiled
    assert runtime_matches(deployed, compiled, refs)
    assert not runtime_matches(deployed, compiled, {})  # the filled-in slot is a difference
    other_hash = BODY + address + b"\x5b" + _cbor_metadata(ipfs=b"\x12\x20" + bytes(32))
    assert not runtime_matches(other_hash, compiled, refs)
    assert runtime_matches(other_hash, compiled, refs, ignore_metadata=True)
    tampered = b"\x00" + deployed[1:]
    assert not runtime_matches(tampered, compiled, refs, ignore_metadata=True)
    assert not runtime_matches(deployed[:-1], compiled, refs)
    with pytest.raises(BytecodeError, match="outside"):
        mask_immutables(BODY, refs)


def test_runtime_matches_real_code_with_a_filled_immutable(committed: Json) -> None:
    ledger = committed["contracts"]["CertificateLedger"]
    refs = ledger["immutableReferences"]
    assert refs, "CertificateLedger keeps its registry in an immutable"
    deployed = bytearray(to_bytes(ledger["deployedBytecode"]))
    registry = bytes(12) + bytes.fromhex("e7f1725e7734ce288f8367e1bb143e90bb3f0512")
    for start, length in _immutable_slots(refs):
        deployed[start : start + length] = registry
    assert runtime_matches(bytes(deployed), ledger["deployedBytecode"], refs)
    assert not runtime_matches(bytes(deployed), ledger["deployedBytecode"], {})


def test_metadata_ipfs_hash_small_inputs() -> None:
    assert metadata_ipfs_hash("") != metadata_ipfs_hash("{}")
    assert len(metadata_ipfs_hash("{}")) == 34
    assert metadata_ipfs_hash("é") == metadata_ipfs_hash("é".encode())
    with pytest.raises(BytecodeError, match="256 KiB"):
        metadata_ipfs_hash(b"x" * (256 * 1024 + 1))
