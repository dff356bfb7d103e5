"""The hash equals what a browser computes: JSON.parse + JCS + crypto.subtle SHA-256.

Runs the verification page's algorithm in Node (V8, the engine of Chrome; Node 20
has the same WebCrypto ``crypto.subtle``). JCS in JavaScript is one line, because
RFC 8785 *is* ECMAScript's JSON.stringify with sorted keys: numbers by
Number::toString, strings by JSON.stringify, keys sorted by UTF-16 code units
(Array.prototype.sort's default order).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpledger.certificate import canonical_json, hash_document_bytes, sample_document_bytes
from tests.strategies import certificates, json_texts

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node")

BROWSER_HASH = r"""
const jcs = (v) =>
  v === null || typeof v !== "object" ? JSON.stringify(v)
  : Array.isArray(v) ? "[" + v.map(jcs).join(",") + "]"
  : "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + jcs(v[k])).join(",") + "}";
const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", async () => {
  const { texts, numbers } = JSON.parse(input);
  const hashes = [];
  for (const text of texts) {
    const canonical = jcs(JSON.parse(text));
    hashes.push(hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical))));
  }
  const spelled = JSON.parse(numbers).map((n) => JSON.stringify(n));
  process.stdout.write(JSON.stringify({ hashes, numbers: spelled }));
});
"""


def browser(texts: list[str], numbers: list[float] | None = None) -> dict[str, Any]:
    assert NODE is not None
    payload = json.dumps({"texts": texts, "numbers": json.dumps(numbers or [])})
    result = subprocess.run(
        [NODE, "-e", BROWSER_HASH], input=payload, capture_output=True, text=True, check=True, timeout=60
    )
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_sample_certificate_hash_matches_the_browser() -> None:
    data = sample_document_bytes()
    assert browser([data.decode()])["hashes"] == [hash_document_bytes(data)[0].hex()]


@given(st.lists(certificates().flatmap(json_texts), min_size=1, max_size=25))
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
def test_certificate_hashes_match_the_browser(texts: list[str]) -> None:
    ours = [hash_document_bytes(text.encode())[0].hex() for text in texts]
    assert browser(texts)["hashes"] == ours


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=200, max_size=200))
@settings(max_examples=5, deadline=None)
def test_number_serialisation_matches_javascript(numbers: list[float]) -> None:
    extremes = [5e-324, -5e-324, 1.7976931348623157e308, 1e21, 1e-7, 1e-6, 9007199254740992.0, 0.1 + 0.2]
    numbers = numbers + extremes
    ours = [canonical_json(number).decode() for number in numbers]
    assert browser([], numbers)["numbers"] == ours
