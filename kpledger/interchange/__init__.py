"""The public interchange files other KP systems build against (docs/format.md).

Why a package of its own: the JSON Schema and the test vectors in ``docs/`` are
*derived* from the library (code lists, limits, hashes, leaves), so they are generated
here and a test fails when the committed files drift from what the library computes.
"""

from kpledger.interchange.schema import SCHEMA_ID, certificate_schema
from kpledger.interchange.vectors import build_vectors, decimal_scaled

__all__ = ["SCHEMA_ID", "build_vectors", "certificate_schema", "decimal_scaled"]
