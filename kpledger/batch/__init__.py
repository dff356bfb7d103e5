"""Merkle batches as a library capability: many certificates, one anchoring transaction.

An exporting authority anchors a day's certificates as one batch::

    from kpledger.batch import run_batch, certificate_files

    anchored = run_batch(ledger, certificate_files(Path("shipments/2026-03-02")))
    anchored.files            # one bundle per certificate: document + proof

Every certificate is checked against every rule of the format, the batch against its
own rules (one exporting participant, each number and document once) and against the
chain (nothing already anchored); :class:`BatchRefused` lists every problem, naming the
file and the rule, and nothing is anchored then. Holders verify a member with its
bundle or proof file: :func:`read_proof` / :func:`read_holder_file` give what
:func:`kpledger.verify.verify` takes. Formats: docs/batch.md.
"""

from kpledger.batch.holder_files import (
    BUNDLE_FORMAT,
    BUNDLE_SUFFIX,
    PROOF_SUFFIX,
    HolderFile,
    HolderFileError,
    Layout,
    bundle_name,
    bundle_text,
    is_holder_file_name,
    proof_from_document,
    read_holder_file,
    read_proof,
    split_bundle,
)
from kpledger.batch.pipeline import (
    AnchoredBatch,
    PreparedBatch,
    anchor_prepared,
    certificate_files,
    prepare_batch,
    prepare_members,
    run_batch,
    write_holder_files,
)
from kpledger.batch.problems import BatchProblem, BatchRefused, Member
from kpledger.batch.validation import Progress

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_SUFFIX",
    "PROOF_SUFFIX",
    "AnchoredBatch",
    "BatchProblem",
    "BatchRefused",
    "HolderFile",
    "HolderFileError",
    "Layout",
    "Member",
    "PreparedBatch",
    "Progress",
    "anchor_prepared",
    "bundle_name",
    "bundle_text",
    "certificate_files",
    "is_holder_file_name",
    "prepare_batch",
    "prepare_members",
    "proof_from_document",
    "read_holder_file",
    "read_proof",
    "run_batch",
    "split_bundle",
    "write_holder_files",
]
