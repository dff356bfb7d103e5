"""Generated histories replayed from a real chain: the index equals the contracts, a
re-run changes nothing, an incremental replay equals a full one, the "as of" answers
equal the contracts' at past blocks, and the statistics equal totals computed
independently from the driver's model."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, example, given, note, settings
from sqlalchemy import create_engine, select, text

from kpledger.audit import AuditIndex, build_report, cross_check, replay
from kpledger.audit import schema as s
from kpledger.chain import artifacts
from tests.audit.history import CODES, RICH_PLAN, SMALL_PLAN, Driver, Model, plan_strategy

ARTIFACTS = artifacts.artifacts()


def dump(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows without surrogate ids, sorted: two indexes of the same
    history must be equal row for row."""
    engine = create_engine(db_url)
    out = {}
    with engine.connect() as conn:
        for table in s.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name != "id"]
            query = select(*columns)
            if table is s.blocks:  # chunk ends are recorded too; they depend on the chunking
                query = query.where(s.blocks.c.number.in_(select(s.events.c.block_number)))
            rows = conn.execute(query).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    engine.dispose()
    return out


def expected_rows(model: Model) -> dict[tuple[str, str, str], dict[str, int]]:
    return model.expected_trade()


def report_rows(report_trade: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, int]]:
    """The report's trade table back in integers (hundredths, cents), zero rows dropped."""

    def units(text: str) -> int:
        whole, _, frac = text.partition(".")
        return int(whole) * 100 + int(frac)

    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for row in report_trade:
        values = {
            "exported_count": row["exported_count"],
            "exported_carats": units(row["exported_carats"]),
            "exported_cents": units(row["exported_usd"]),
            "imported_count": row["imported_count"],
            "imported_carats": units(row["imported_carats"]),
            "imported_cents": units(row["imported_usd"]),
        }
        out[(row["quarter"], row["origin"], row["destination"])] = {k: v for k, v in values.items() if v}
    return out


def check_history(
    cast_session: Any, plan: list[tuple[Any, ...]], tmp: Path, seed: int, samples: int = 8
) -> None:
    with cast_session as cast:
        model = Driver(cast).run(plan)
        event(f"certificates: {len(model.certs) // 100 * 100}+")
        note(f"{len(model.certs)} certificates, {model.skipped} operations skipped")
        deployment = cast.gov.deployment
        head = cast.gov.block_number()
        rng = random.Random(seed)
        full = f"sqlite:///{tmp / f'full-{seed}.db'}"
        parts = f"sqlite:///{tmp / f'parts-{seed}.db'}"

        # One pass with small adaptive chunks, and one stopped and resumed twice.
        first = replay(
            cast.target, deployment, full, progress=False, chunk_blocks=rng.randint(1, 40), target_logs=60
        )
        assert first.checkpoint == head and first.events > 0
        for stop in sorted(rng.sample(range(deployment.block, head), 2)):
            replay(
                cast.target, deployment, parts, progress=False, to_block=stop, chunk_blocks=rng.randint(1, 9)
            )
        replay(cast.target, deployment, parts, progress=False, chunk_blocks=500)
        assert dump(full) == dump(parts)

        # Idempotent: a re-run indexes nothing and changes nothing.
        before = dump(full)
        again = replay(cast.target, deployment, full, progress=False)
        assert again.events == 0 and again.checkpoint == head
        assert dump(full) == before

        # The index equals the contracts; code and rules check out.
        checks = cross_check(cast.target, deployment, full, compiled=ARTIFACTS)
        assert checks.differences == []
        assert checks.invariants == []
        assert all(b.ok for b in checks.bytecode)
        assert checks.checked["certificates"] == len(model.certs)

        # Statistics equal the model's independent totals.
        report = build_report(full, checks=checks)
        assert report_rows(report.tables["trade"]) == {
            k: {n: v for n, v in row.items() if v} for k, row in expected_rows(model).items()
        }
        assert report.summary["certificates"] == len(model.certs)
        assert report.meta["suspension_check"]["findings"] == 0
        assert report.meta["suspension_check"]["transitions_checked"] > 0

        # "As of" equals the contracts at past blocks, for a sample of certificates.
        with AuditIndex(full, chain=cast.target) as index:
            hashes = index.certificate_hashes()
            ledger_there = deployment.block + 2  # the registry's block, then the ledger's
            for block in sorted(rng.sample(range(ledger_there, head + 1), 3)):
                for h in rng.sample(hashes, min(samples, len(hashes))):
                    ours = index.certificate(h, block=block)
                    theirs = cast.gov.certificate(h, block=block)
                    assert (ours.record() if ours is not None else None) == theirs, (h, block)
                for code in CODES:
                    assert index.status_at(code, block) == cast.gov.status_at(code, block)

        _check_model(model, full)


def _check_model(model: Model, db_url: str) -> None:
    """The driver's model and the index tell the same story per certificate."""
    names = {1: "requested", 2: "issued", 3: "received", 4: "disputed", 5: "voided", 6: "superseded"}
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("select document_hash, stored_status from certificates")).all())
    engine.dispose()
    expected = {"0x" + h.hex(): c.status for h, c in model.certs.items()}
    assert {k: names[v] for k, v in rows.items()} == expected


SLOW_EXAMPLES = dict(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def _prologue(seed: int, certs: int) -> list[tuple[Any, ...]]:
    """Every history starts with three participants and some trade."""
    return [("admit", 0, 60), ("admit", 1, 90), ("certs", 0, 1, certs, False, seed % 1000)]


@settings(max_examples=2, **SLOW_EXAMPLES)  # type: ignore[arg-type]
@example(plan=SMALL_PLAN, seed=7)
@given(plan=plan_strategy(max_certs=8, max_ops=12, max_batch=4), seed=...)
def test_generated_history_in_process(cast_session: Any, tmp_path_factory: Any, plan: Any, seed: int) -> None:
    """On the in-process EVM (eth-tester reads logs slowly: small histories)."""
    check_history(
        cast_session, _prologue(seed, 10) + plan, tmp_path_factory.mktemp("history"), seed, samples=4
    )


@pytest.mark.anvil
@settings(max_examples=3, **SLOW_EXAMPLES)  # type: ignore[arg-type]
@example(plan=RICH_PLAN, seed=7)
@given(plan=plan_strategy(max_certs=60, max_ops=24), seed=...)
def test_generated_history_on_anvil(
    anvil_cast_session: Any, tmp_path_factory: Any, plan: Any, seed: int
) -> None:
    """Hundreds of certificates through every transition, on anvil over HTTP."""
    check_history(anvil_cast_session, _prologue(seed, 80) + plan, tmp_path_factory.mktemp("history"), seed)


@pytest.mark.anvil
def test_rich_plan_walks_every_transition(anvil_cast_session: Any, tmp_path: Path) -> None:
    """The pinned plan reaches every transition, so the property above covers them all."""
    with anvil_cast_session as cast:
        Driver(cast).run(RICH_PLAN)
        db = f"sqlite:///{tmp_path / 'rich.db'}"
        result = replay(cast.target, cast.gov.deployment, db, progress=False)
        assert result.events > 200
        engine = create_engine(db)
        with engine.connect() as conn:
            seen = set(conn.execute(text("select distinct event from certificate_transitions")).scalars())
            participant_events = set(
                conn.execute(text("select distinct event from participant_status_history")).scalars()
            )
            revoked = conn.execute(
                text("select count(*) from role_grants where revoked_block is not null")
            ).scalar()
            certificates = conn.execute(text("select count(*) from certificates")).scalar()
        engine.dispose()
        assert seen >= {
            "CertificateRequested",
            "CertificateIssued",
            "CertificateValidated",
            "CertificateReceived",
            "CertificateDisputed",
            "DisputeResolved",
            "CertificateVoided",
            "CertificateSuperseded",
            "Supersedes",
        }
        assert participant_events == {
            "ParticipantAdmitted",
            "ParticipantSuspended",
            "ParticipantReadmitted",
            "ValidityPeriodChanged",
        }
        assert revoked and revoked >= 2
        assert certificates is not None and certificates >= 100
