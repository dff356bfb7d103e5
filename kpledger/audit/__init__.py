"""The auditor's toolkit: replay the chain into an index, query it as of any point,
cross-check it against the contracts and their code, and report KP statistics.

Auditors need not trust the API: everything here reads the chain's logs and blocks
through plain JSON-RPC and keeps its own index (SQLite by default, PostgreSQL by URL)::

    from kpledger.audit import replay, cross_check, build_report
    replay("http://node:8545", "deployment.json", "sqlite:///audit.db", confirmations=12)
    checks = cross_check("http://node:8545", "deployment.json", "sqlite:///audit.db")
    report = build_report("sqlite:///audit.db", checks=checks)
    report.write_html("audit.html")
"""

from kpledger.audit.checks import (
    BytecodeCheck,
    CheckReport,
    Difference,
    Finding,
    check_bytecode,
    check_invariants,
    compare_with_contracts,
    cross_check,
)
from kpledger.audit.replay import ChunkSizer, Reorg, ReplayEngine, ReplayResult, replay
from kpledger.audit.reports import Report, build_report
from kpledger.audit.schema import DEFAULT_DB_URL, engine_for
from kpledger.audit.source import ChainSource, open_source
from kpledger.audit.state import AuditIndex, CertificateState, ParticipantState, RoleHolding, Transition
from kpledger.audit.store import Checkpoint, ConcurrentReplay

__all__ = [
    "DEFAULT_DB_URL",
    "AuditIndex",
    "BytecodeCheck",
    "CertificateState",
    "ChainSource",
    "CheckReport",
    "Checkpoint",
    "ChunkSizer",
    "ConcurrentReplay",
    "Difference",
    "Finding",
    "ParticipantState",
    "Reorg",
    "ReplayEngine",
    "ReplayResult",
    "Report",
    "RoleHolding",
    "Transition",
    "build_report",
    "check_bytecode",
    "check_invariants",
    "compare_with_contracts",
    "cross_check",
    "engine_for",
    "open_source",
    "replay",
]
