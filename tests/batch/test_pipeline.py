"""kpledger.batch on a real in-process EVM: what it refuses (all problems at once, nothing
anchored), what it anchors, and that the holders' files verify."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from kpledger.batch import (
    BUNDLE_SUFFIX,
    PROOF_SUFFIX,
    BatchRefused,
    HolderFileError,
    Member,
    certificate_files,
    prepare_batch,
    prepare_members,
    read_holder_file,
    read_proof,
    run_batch,
)
from kpledger.certificate import document_hash, parse_certificate, sample_certificate
from kpledger.merkle import CERTIFICATE_LEAF, StandardMerkleTree
from kpledger.verify import verify
from tests.conftest import World

_serial = itertools.count(1)


def _document(**overrides: Any) -> dict[str, Any]:
    exporting = overrides.get("exporting_participant", "BW")
    number = overrides.pop("number", f"{exporting}-2026-B{next(_serial):06d}")
    return sample_certificate(number=number, **overrides)


def _write(directory: Path, count: int, **overrides: Any) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for _ in range(count):
        document = _document(**overrides)
        path = directory / f"{document['number']}.json"
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")
        paths.append(path)
    return paths


def _rules(exc: pytest.ExceptionInfo[BatchRefused]) -> list[tuple[str, str]]:
    return [(Path(p.source).name, p.rule) for p in exc.value.problems]


def test_a_batch_of_files_is_anchored_and_each_bundle_verifies(world: World, tmp_path: Path) -> None:
    files = _write(tmp_path / "day", 5, importing_participant="AE")
    seen: list[tuple[str, int, int | None]] = []
    day = certificate_files(tmp_path / "day")
    anchored = run_batch(world.bw_auth, day, progress=lambda *a: seen.append(a))
    assert world.gov.batch(anchored.prepared.root) is not None
    # the leaves encoded member by member make the tree the values make
    values = [list(m.terms.as_tuple()) for m in anchored.prepared.members]
    assert anchored.prepared.tree.dump() == StandardMerkleTree.of(values, CERTIFICATE_LEAF).dump()
    assert [p.name for p in anchored.files] == [f.name.removesuffix(".json") + BUNDLE_SUFFIX for f in files]
    assert {stage for stage, _, _ in seen} >= {"validating", "checking the ledger", "anchoring"}
    for path in anchored.files:
        holder = read_holder_file(path.read_bytes(), where=str(path))
        assert holder.document is not None
        result = verify(world.stranger, holder.document, batch_proof=holder.proof)
        assert result.verdict == "VALID", result.to_dict()
    # the bundle's document is the file's document, verbatim in value: same hash
    first = read_holder_file(anchored.files[0].read_bytes(), where="first")
    assert first.document_hash == parse_certificate(files[0].read_bytes()).document_hash()
    # a second run over the same directory skips the bundles and refuses every member
    with pytest.raises(BatchRefused) as refused:
        prepare_batch(certificate_files(tmp_path / "day"), ledger=world.bw_auth)
    assert len(refused.value.problems) == 5
    assert {rule for _, rule in _rules(refused)} == {"batch.already_batched"}


def test_every_problem_is_reported_together_and_nothing_is_anchored(world: World, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    good = _write(folder, 3)
    foreign = _write(folder, 1, exporting_participant="AE", importing_participant="BW")
    broken = folder / "broken.json"
    broken.write_text('{"title": "Kimberley Process Certificate", "title": "again"}', encoding="utf-8")
    twin = folder / "twin.json"
    twin.write_text(json.dumps(_document(number=json.loads(good[0].read_text())["number"])), encoding="utf-8")
    block = world.gov.block_number()
    with pytest.raises(BatchRefused) as refused:
        run_batch(world.bw_auth, certificate_files(folder))
    rules = _rules(refused)
    assert ("broken.json", "json.duplicate_key") in rules
    assert (foreign[0].name, "batch.mixed_origins") in rules
    assert {("twin.json", "batch.duplicate_number"), (good[0].name, "batch.duplicate_number")} & set(rules)
    assert world.gov.block_number() == block  # no transaction at all
    assert not list(folder.glob(f"*{BUNDLE_SUFFIX}")) and not list(folder.glob(f"*{PROOF_SUFFIX}"))
    assert "broken.json" in str(refused.value) and "json.duplicate_key" in str(refused.value)


def test_a_certificate_already_on_the_ledger_is_refused(world: World, tmp_path: Path) -> None:
    files = _write(tmp_path / "day", 3)
    anchored_alone = parse_certificate(files[1].read_bytes()).chain_terms()
    world.bw_exporter.anchor(anchored_alone)
    renumbered = tmp_path / "day" / "renumbered.json"
    again = json.loads(files[2].read_text())
    world.bw_auth.issue(parse_certificate(again).chain_terms(), world.bw_exporter.address)
    again["parcels"] = 7  # another document, but a number the ledger already holds
    renumbered.write_text(json.dumps(again), encoding="utf-8")
    files[2].unlink()
    block = world.gov.block_number()
    with pytest.raises(BatchRefused) as refused:
        run_batch(world.bw_auth, certificate_files(tmp_path / "day"))
    assert sorted(_rules(refused)) == sorted(
        [(files[1].name, "batch.already_anchored"), ("renumbered.json", "batch.number_taken")]
    )
    assert world.gov.block_number() == block


def test_an_existing_proof_file_is_never_overwritten(world: World, tmp_path: Path) -> None:
    files = _write(tmp_path / "day", 2)
    earlier = files[0].with_name(files[0].name.removesuffix(".json") + PROOF_SUFFIX)
    earlier.write_text("an earlier batch's proof", encoding="utf-8")
    with pytest.raises(BatchRefused) as refused:
        run_batch(world.bw_auth, files)
    assert _rules(refused) == [(files[0].name, "batch.already_batched")]
    assert earlier.read_text(encoding="utf-8") == "an earlier batch's proof"


def test_documents_through_the_process_pool_with_proof_files(world: World, tmp_path: Path) -> None:
    documents = [_document(importing_participant="BE") for _ in range(7)]
    out = tmp_path / "proofs"
    anchored = run_batch(world.bw_auth, iter(documents), out=out, layout="proof", workers=2)
    assert len(anchored.files) == 7 and all(p.name.endswith(PROOF_SUFFIX) for p in anchored.files)
    for document, path, proof in zip(documents, anchored.files, anchored.proofs(), strict=True):
        assert read_proof(path) == proof
        assert verify(world.stranger, document, batch_proof=read_proof(path)).verdict == "VALID"


def test_documents_as_bytes_and_values_in_bundles(world: World, tmp_path: Path) -> None:
    values = [_document(), _document()]
    items: list[bytes | dict[str, Any]] = [json.dumps(values[0]).encode(), values[1]]
    anchored = run_batch(world.bw_auth, items, out=tmp_path)
    for value, path in zip(values, anchored.files, strict=True):
        holder = read_holder_file(path.read_bytes(), where=path.name)
        assert holder.document_hash == document_hash(value)  # the same JSON value
        assert path.name == value["number"].replace("/", "_").replace(" ", "_") + BUNDLE_SUFFIX
    with pytest.raises(ValueError, match="out"):
        prepare_batch([_document()])


def test_altered_bundles_and_proofs_are_refused_offline(world: World, tmp_path: Path) -> None:
    anchored = run_batch(world.bw_auth, _write(tmp_path / "day", 2))
    bundle = json.loads(anchored.files[0].read_text(encoding="utf-8"))
    bundle["document"]["parcels"] = 9
    with pytest.raises(HolderFileError, match="hash"):
        read_holder_file(json.dumps(bundle).encode(), where="changed.bundle.json")
    bundle = json.loads(anchored.files[0].read_text(encoding="utf-8"))
    bundle["proof"]["leaf"][6] = "9"
    with pytest.raises(HolderFileError, match="altered"):
        read_holder_file(json.dumps(bundle).encode(), where="changed.bundle.json")
    with pytest.raises(HolderFileError, match="not a bundle"):
        read_holder_file(json.dumps({**bundle, "extra": 1}).encode(), where="x")
    with pytest.raises(HolderFileError, match="not a proof or bundle"):
        read_holder_file(b"[1, 2]", where="x")


def test_members_built_in_python_keep_the_batch_rules(world: World) -> None:
    terms = world.terms()
    with pytest.raises(BatchRefused) as refused:
        prepare_members([Member("a", terms), Member("b", terms)])
    assert {p.rule for p in refused.value.problems} == {"batch.duplicate_number", "batch.duplicate_document"}
    with pytest.raises(BatchRefused, match=r"batch\.empty"):
        prepare_members([])
