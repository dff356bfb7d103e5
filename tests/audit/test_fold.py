"""The folder's lookups: a folder that started from an empty index asks the index only
for certificates it created itself (a first replay creates most of the certificates it
names), and folds exactly the rows a folder that asks for everything folds."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kpledger.audit.fold import (
    ISSUED,
    RECENT_CHUNKS,
    ChunkRows,
    CreatedFilter,
    Event,
    Folder,
    FoldState,
    IndexReader,
    Row,
)


def _hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def _event(block: int, name: str, **args: str | int) -> Event:
    return Event(
        block, 0, 0, _hash(10_000 + block), _hash(20_000 + block), 1_700_000_000 + block, "ledger", name, args
    )


def _requested(block: int, document_hash: str) -> Event:
    return _event(
        block,
        "CertificateRequested",
        documentHash=document_hash,
        origin="BW",
        destination="AE",
        number=f"BW {block}",
        exporter="0x" + "11" * 20,
        carats=12_345,
        valueCents=9_000_000,
        parcels=2,
        expiresAt=1_800_000_000,
    )


def _validated(block: int, document_hash: str) -> Event:
    return _event(block, "CertificateValidated", documentHash=document_hash, issuer="0x" + "22" * 20)


class Index:
    """The index as the folder sees it: the rows of the chunks folded so far."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.asked: list[set[str]] = []

    def certificates(self, hashes: Iterable[str]) -> dict[str, Row]:
        wanted = set(hashes)
        self.asked.append(wanted)
        return {h: dict(self.rows[h]) for h in wanted if h in self.rows}

    def write(self, rows: ChunkRows) -> ChunkRows:
        self.rows.update({h: dict(r) for h, r in rows.new_certificates.items()})
        self.rows.update({h: dict(r) for h, r in rows.changed_certificates.items()})
        return rows


def _fold_history(empty_index: bool) -> tuple[list[ChunkRows], Index]:
    index = Index()
    folder = Folder(FoldState(no_certificates=empty_index), IndexReader(index.certificates, lambda _: None))
    old, new, stranger = _hash(1), _hash(2), _hash(3)
    chunks = [index.write(folder.fold([_requested(1, old)]))]
    chunks += [index.write(folder.fold([])) for _ in range(RECENT_CHUNKS)]  # `old` leaves the window
    last = folder.fold([_validated(10, old), _validated(10, stranger), _requested(10, new)])
    return [*chunks, index.write(last)], index


def test_a_folder_from_an_empty_index_asks_only_for_certificates_it_created() -> None:
    asking, everything = _fold_history(empty_index=False)
    filtered, created_only = _fold_history(empty_index=True)
    assert filtered == asking
    old, new, stranger = _hash(1), _hash(2), _hash(3)
    assert [a for a in everything.asked if a] == [{old}, {old, stranger, new}]
    assert [a for a in created_only.asked if a] == [{old}]
    last = filtered[-1]
    assert last.changed_certificates[old]["stored_status"] == ISSUED
    assert set(last.new_certificates) == {new}
    assert [issue["message"] for issue in last.issues] == [
        f"CertificateValidated of unknown certificate {stranger}"
    ]


@given(st.lists(st.text(), max_size=200))
@example(["", "0x" + "00" * 32])
def test_the_filter_holds_everything_added(items: list[str]) -> None:
    created = CreatedFilter()
    for item in items:
        created.add(item)
    assert all(item in created for item in items)


def test_the_filter_rules_out_what_it_never_held() -> None:
    rng = random.Random(5)
    created = CreatedFilter()
    for _ in range(10_000):
        created.add(_hash(rng.getrandbits(256)))
    strangers = [_hash(rng.getrandbits(256)) for _ in range(10_000)]
    # Two probes in 2**25 bits: about 4 in a million wrong at this size.
    assert sum(s in created for s in strangers) <= 2


@pytest.mark.parametrize("empty_index", [True, False])
def test_a_chunk_creating_and_moving_a_certificate_asks_nothing(empty_index: bool) -> None:
    index = Index()
    folder = Folder(FoldState(no_certificates=empty_index), IndexReader(index.certificates, lambda _: None))
    rows = folder.fold([_requested(1, _hash(7)), _validated(1, _hash(7))])
    assert rows.new_certificates[_hash(7)]["stored_status"] == ISSUED
    assert index.asked == ([] if empty_index else [{_hash(7)}])
