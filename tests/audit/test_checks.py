"""Cross-checks report every difference: deployed code vs sources (metadata and
immutables handled), index vs contracts, and the rules on the rebuilt history."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from kpledger import bytecode
from kpledger.audit import check_bytecode, check_invariants, compare_with_contracts, cross_check, replay
from kpledger.audit.source import open_source
from kpledger.audit.state import AuditIndex
from kpledger.chain import artifacts

ARTIFACTS = artifacts.artifacts()


@pytest.fixture(scope="session")
def compiled_from_sources() -> dict[str, Any]:
    from kpledger import compiler

    try:
        return compiler.compile_sources()
    except Exception as exc:  # no solc-js (npm ci) on this machine
        pytest.skip(f"cannot compile the sources: {exc}")


def _sql(db_url: str, statement: str, **params: Any) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def test_deployed_code_equals_the_repository_sources(
    world: Any, compiled_from_sources: dict[str, Any]
) -> None:
    checks = check_bytecode(open_source(world.chain), world.gov.deployment, compiled=compiled_from_sources)
    assert [(c.contract, c.verdict, c.ok) for c in checks] == [
        ("ParticipantRegistry", "identical", True),
        ("CertificateLedger", "identical", True),
    ]
    ledger = checks[1]
    assert ledger.immutables_ok is True
    assert list(ledger.immutables.values()) == [
        "0x" + world.gov.deployment.registry[2:].lower().rjust(64, "0")
    ]
    assert ledger.deployed_solc == ledger.compiled_solc == "0.8.37"
    assert ledger.deployed_metadata == ledger.compiled_metadata


def test_compiling_from_the_repository_is_the_default(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from kpledger import compiler

    monkeypatch.setattr(compiler, "compile_sources", lambda root=None: ARTIFACTS)
    checks = check_bytecode(open_source(world.chain), world.gov.deployment)
    assert {c.compiled_from for c in checks} == {"sources"} and all(c.ok for c in checks)

    def no_compiler(root: Any = None) -> Any:
        from kpledger.errors import BuildError

        raise BuildError("no Solidity compiler")

    monkeypatch.setattr(compiler, "compile_sources", no_compiler)
    fallback = check_bytecode(open_source(world.chain), world.gov.deployment)
    assert all(c.ok for c in fallback)
    assert all(
        c.compiled_from.startswith("artifacts") and "could not compile" in c.notes[0] for c in fallback
    )


def test_a_different_contract_is_reported(world: Any) -> None:
    swapped = dataclasses.replace(world.gov.deployment, registry=world.gov.deployment.ledger)
    checks = check_bytecode(open_source(world.chain), swapped, compiled=ARTIFACTS)
    registry = checks[0]
    assert registry.verdict == "different" and not registry.ok
    assert "sizes differ" in registry.notes[0]
    nothing = dataclasses.replace(world.gov.deployment, ledger="0x" + "12" * 20)
    assert check_bytecode(open_source(world.chain), nothing, compiled=ARTIFACTS)[1].verdict == "no-code"


def test_same_code_from_other_source_text_is_told_apart(world: Any) -> None:
    other = copy.deepcopy(ARTIFACTS)
    code = bytecode.to_bytes(other["contracts"]["ParticipantRegistry"]["deployedBytecode"])
    body, block = bytecode.split_metadata(code)
    ipfs = bytecode.decode_metadata(code)["ipfs"]
    assert isinstance(ipfs, bytes)
    changed = block.replace(ipfs, ipfs[:-1] + bytes([ipfs[-1] ^ 1]))  # a comment changed: same code, new hash
    other["contracts"]["ParticipantRegistry"]["deployedBytecode"] = "0x" + (body + changed).hex()
    checks = check_bytecode(open_source(world.chain), world.gov.deployment, compiled=other)
    assert checks[0].verdict == "identical-except-metadata" and not checks[0].ok
    assert checks[0].deployed_metadata != checks[0].compiled_metadata


def test_a_ledger_bound_to_another_registry_is_reported(world: Any) -> None:
    wrong = dataclasses.replace(world.gov.deployment, registry=world.stranger.address)
    ledger = check_bytecode(open_source(world.chain), wrong, compiled=ARTIFACTS)[1]
    assert ledger.verdict == "identical" and ledger.immutables_ok is False and not ledger.ok


def test_a_tampered_index_is_reported_not_hidden(world: Any, db_url: str) -> None:
    terms = world.terms()
    world.bw_auth.issue(terms, world.bw_exporter.address)
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    document_hash = "0x" + terms.document_hash.hex()
    _sql(
        db_url,
        "update certificates set carats = carats + 1, stored_status = 3 where document_hash = :h",
        h=document_hash,
    )
    _sql(
        db_url, "delete from participant_status_history where code = 'VE' and event = 'ParticipantSuspended'"
    )
    _sql(db_url, "update participants set status = 1 where code = 'VE'")
    _sql(db_url, "update role_grants set revoked_block = 2 where code = 'BW' and kind = 'exporter'")
    report = cross_check(world.chain, world.gov.deployment, db_url, compiled=ARTIFACTS)
    assert not report.ok
    found = {(d.kind, d.key, d.field) for d in report.differences}
    assert ("certificate", document_hash, "carats") in found
    assert ("certificate", document_hash, "stored_status") in found
    assert ("participant", "VE", "status") in found
    assert ("participant", "VE", "statusHistory") in found
    assert any(d.kind == "role" and d.key.startswith("BW/exporter/") for d in report.differences)
    assert json.loads(json.dumps(report.to_dict(), default=str))["ok"] is False


def test_a_certificate_missing_on_chain_is_reported(world: Any, db_url: str) -> None:
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    _sql(
        db_url,
        "insert into certificates (document_hash, number, origin, destination, carats, value_cents, parcels,"
        " expires_at, stored_status, created_block, updated_block) values"
        " (:h, 'BW FAKE', 'BW', 'AE', 1, 1, 1, 1, 2, 1, 1)",
        h="0x" + "ab" * 32,
    )
    with AuditIndex(db_url) as index:
        differences = compare_with_contracts(open_source(world.chain), world.gov.deployment, index)
    assert [(d.field, d.index, d.contract) for d in differences] == [("exists", "indexed", None)]


def test_invariants_hold_on_a_real_history_and_catch_broken_rules(world: Any, db_url: str) -> None:
    terms = world.terms()
    world.bw_auth.issue(terms, world.bw_exporter.address)
    world.ae_auth.confirm_receipt(terms.number)
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    engine = create_engine(db_url)
    checked: dict[str, int] = {}
    assert check_invariants(engine, checked) == []
    assert checked["trade_transitions"] == 1 and checked["actor_checks"] == 2
    document_hash = "0x" + terms.document_hash.hex()
    issue_block = world.gov.certificate(terms.number).issued_block
    # Pretend AE was suspended just before the issue, and the confirming account was no authority.
    _sql(
        db_url,
        "insert into participant_status_history (code, event, status, validity_days, block_number, tx_index,"
        " log_index, timestamp, tx_hash) values ('AE', 'ParticipantSuspended', 2, 60, :b, 0, 0, 0, '0x00')",
        b=issue_block - 1,
    )
    _sql(
        db_url,
        "update certificate_transitions set actor = :a where event = 'CertificateReceived'",
        a="0x" + "99" * 20,
    )
    _sql(db_url, "update certificates set number = 'AE X-1' where document_hash = :h", h=document_hash)
    rules = {f.rule for f in check_invariants(engine)}
    engine.dispose()
    assert {"trade-while-inactive", "actor-role", "number-prefix"} <= rules
