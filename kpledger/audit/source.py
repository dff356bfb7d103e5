"""What the auditor reads from a node: logs, block headers, code and contract calls.

Why not the Ledger's web3 path: web3's result formatters turn every log into an
``AttributeDict`` of ``HexBytes``, which costs more per log than decoding and storing
it. An ``http(s)://`` endpoint is therefore spoken to directly (one keep-alive session,
JSON-RPC batches, results left as the hex text the node sent); anything else (the
in-process chain, a web3 instance with another provider) goes through
:class:`kpledger.chain.rpc.Rpc` and is normalised to the same hex text.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol

from kpledger.chain.rpc import Rpc, RpcError
from kpledger.errors import ChainError, ConnectionFailed

_orjson: Any
try:  # optional: parses large log responses ~3x faster than json
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

HEADER_BATCH = 250
CALL_BATCH = 200


class ChainTimeout(ChainError):
    """The node did not answer in time (a log query over too many blocks, typically)."""


class RawLog(NamedTuple):
    """One log as the node returned it, in hex text. ``block_timestamp`` is set when
    the node includes it in logs (anvil, recent geth), else None."""

    block_number: int
    block_hash: str
    block_timestamp: int | None
    tx_hash: str
    tx_index: int
    log_index: int
    address: str
    topics: list[str]
    data: str


class Header(NamedTuple):
    number: int
    hash: str
    timestamp: int


class Transport(Protocol):
    """JSON-RPC: one request, or a batch whose failed members come back as RpcError."""

    def request(self, method: str, params: Sequence[Any]) -> Any: ...

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]: ...


class HttpTransport:
    """Plain JSON-RPC over HTTP with ``requests`` (a dependency of web3)."""

    def __init__(self, url: str, *, timeout: float = 120.0) -> None:
        import requests

        self.url = url
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["Content-Type"] = "application/json"
        self._ids = itertools.count(1)

    def _post(self, body: Any, what: str) -> Any:
        import requests
        import urllib3

        payload = _orjson.dumps(body) if _orjson is not None else json.dumps(body).encode()
        try:
            # Streamed and read in one call: ``response.content`` reads a log answer of
            # tens of megabytes in 10 KiB pieces, which costs more than parsing it.
            response = self._session.post(self.url, data=payload, timeout=self.timeout, stream=True)
            try:  # read to the end, the connection goes back to the pool by itself
                content = response.raw.read(decode_content=True)
            except BaseException:
                response.close()
                raise
        except requests.Timeout as exc:
            raise ChainTimeout(f"{what}: no answer from {self.url} within {self.timeout}s") from exc
        except urllib3.exceptions.TimeoutError as exc:
            raise ChainTimeout(f"{what}: no answer from {self.url} within {self.timeout}s") from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise ConnectionFailed(f"node unreachable ({what}): {type(exc).__name__}: {exc}") from exc
        try:
            return _orjson.loads(content) if _orjson is not None else json.loads(content)
        except ValueError:
            text = content[:500].decode("utf-8", "replace")
            raise RpcError(what, {"code": response.status_code, "message": text}) from None

    def request(self, method: str, params: Sequence[Any]) -> Any:
        answer = self._post(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}, method
        )
        if not isinstance(answer, dict):
            raise RpcError(method, {"message": f"unexpected answer {str(answer)[:200]}"})
        if answer.get("error") is not None:
            error = answer["error"]
            raise RpcError(method, error if isinstance(error, dict) else {"message": str(error)})
        return answer.get("result")

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        if not requests:
            return []
        first = next(self._ids)
        body = [
            {"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)}
            for i, (m, p) in enumerate(requests)
        ]
        for _ in requests[1:]:
            next(self._ids)
        answer = self._post(body, f"batch of {len(requests)} {requests[0][0]}")
        if isinstance(answer, dict):  # the node refused the batch as a whole
            raise RpcError("batch", answer.get("error") or {"message": str(answer)[:200]})
        by_id = {item.get("id"): item for item in answer}
        out: list[Any] = []
        for i, (method, _) in enumerate(requests):
            item = by_id.get(first + i)
            if item is None:
                out.append(RpcError(method, {"message": "no answer in batch"}))
            elif item.get("error") is not None:
                error = item["error"]
                out.append(RpcError(method, error if isinstance(error, dict) else {"message": str(error)}))
            else:
                out.append(item.get("result"))
        return out


class Web3Transport:
    """Through :class:`Rpc` (in-process chain or any web3 provider)."""

    def __init__(self, rpc: Rpc) -> None:
        self.rpc = rpc

    def request(self, method: str, params: Sequence[Any]) -> Any:
        return self.rpc.call(method, params)

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        return self.rpc.batch(requests)


def hex_text(value: Any) -> str:
    """``0x`` + lower-case hex of a hex string or bytes-like value."""
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def to_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.startswith("0x") else int(value)
    return int(value)


def _raw_log_json(entry: dict[str, Any]) -> RawLog:
    """A log straight from JSON-RPC text. The execution-apis schema makes hex data
    lower-case (``^0x[0-9a-f]*$``); only the address is lowered, to be safe, because a
    wrong case there would silently drop a log."""
    stamp = entry.get("blockTimestamp")
    return RawLog(
        int(entry["blockNumber"], 16),
        entry["blockHash"],
        None if stamp is None else int(stamp, 16),
        entry["transactionHash"],
        int(entry["transactionIndex"], 16),
        int(entry["logIndex"], 16),
        entry["address"].lower(),
        entry["topics"],
        entry["data"],
    )


def _json_log(entry: Any) -> dict[str, Any]:
    """A log from web3 (``HexBytes``, ints) in JSON-RPC's hex text form."""
    out = {
        "blockNumber": hex(to_int(entry["blockNumber"])),
        "blockHash": hex_text(entry["blockHash"]),
        "transactionHash": hex_text(entry["transactionHash"]),
        "transactionIndex": hex(to_int(entry["transactionIndex"])),
        "logIndex": hex(to_int(entry["logIndex"])),
        "address": hex_text(entry["address"]),
        "topics": [hex_text(t) for t in entry["topics"]],
        "data": hex_text(entry["data"]),
    }
    stamp = entry.get("blockTimestamp")
    if stamp is not None:
        out["blockTimestamp"] = hex(to_int(stamp))
    return out


# Messages nodes use when a log query is too big (geth, Besu, Erigon, hosted providers).
_TOO_BIG = re.compile(
    r"more than \d+ results|too many|exceed|limit|too large|response size|range|timeout|timed out|"
    r"query returned|block range",
    re.IGNORECASE,
)


def is_range_error(exc: BaseException) -> bool:
    """Whether a failed log query should be retried over fewer blocks."""
    if isinstance(exc, ChainTimeout):
        return True
    return isinstance(exc, RpcError) and bool(_TOO_BIG.search(exc.message))


class ChainSource:
    """Read access to one chain for replay and cross-checks."""

    def __init__(self, transport: Transport, *, label: str = "") -> None:
        self.transport = transport
        self.label = label

    def chain_id(self) -> int:
        return to_int(self.transport.request("eth_chainId", []))

    def head(self) -> int:
        return to_int(self.transport.request("eth_blockNumber", []))

    def logs(self, from_block: int, to_block: int, addresses: Sequence[str]) -> list[RawLog]:
        """Logs of ``addresses`` in the inclusive range, in chain order."""
        out = [_raw_log_json(entry) for entry in self.log_entries(from_block, to_block, addresses)]
        keys = [(log.block_number, log.tx_index, log.log_index) for log in out]
        if any(a > b for a, b in itertools.pairwise(keys)):  # nodes return chain order
            out.sort(key=lambda log: (log.block_number, log.tx_index, log.log_index))
        return out

    def log_entries(self, from_block: int, to_block: int, addresses: Sequence[str]) -> list[dict[str, Any]]:
        """Logs of ``addresses`` in the inclusive range as JSON-RPC log objects (hex
        text, as the node sent them; in the node's order), removed ones left out.

        What the replay reads: it decodes each log where it is, once (a :class:`RawLog`
        built first cost as much as decoding the log)."""
        query = {"address": list(addresses), "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        raw = self.transport.request("eth_getLogs", [query])
        if isinstance(self.transport, HttpTransport):
            return [entry for entry in raw if not entry.get("removed")]
        return [_json_log(entry) for entry in raw if not entry.get("removed")]

    def headers(self, numbers: Iterable[int]) -> dict[int, Header | None]:
        """Hash and time of each block (None for a block the chain does not have)."""
        wanted = sorted(set(numbers))
        found: dict[int, Header | None] = {}
        for start in range(0, len(wanted), HEADER_BATCH):
            chunk = wanted[start : start + HEADER_BATCH]
            results = self.transport.batch([("eth_getBlockByNumber", [hex(n), False]) for n in chunk])
            for number, result in zip(chunk, results, strict=True):
                if isinstance(result, RpcError):
                    raise result
                found[number] = (
                    None
                    if result is None
                    else Header(number, hex_text(result["hash"]), to_int(result["timestamp"]))
                )
        return found

    def header(self, number: int) -> Header | None:
        return self.headers([number])[number]

    def code(self, address: str, block: int | str = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        return bytes.fromhex(hex_text(self.transport.request("eth_getCode", [address, tag]))[2:])

    def calls(
        self, requests: Sequence[tuple[str, bytes]], block: int | str = "latest"
    ) -> list[bytes | RpcError]:
        """``eth_call`` of each ``(to, calldata)`` at ``block``, batched."""
        tag = hex(block) if isinstance(block, int) else block
        out: list[bytes | RpcError] = []
        for start in range(0, len(requests), CALL_BATCH):
            chunk = requests[start : start + CALL_BATCH]
            batch = [("eth_call", [{"to": to, "data": "0x" + data.hex()}, tag]) for to, data in chunk]
            for result in self.transport.batch(batch):
                out.append(result if isinstance(result, RpcError) else bytes.fromhex(hex_text(result)[2:]))
        return out


def open_source(target: Any) -> ChainSource:
    """A :class:`ChainSource` for a URL, a :class:`~kpledger.ledger.Ledger`, an
    :class:`~kpledger.chain.connection.InProcessChain`, a ``Web3`` or an ``Rpc``."""
    from web3 import HTTPProvider, Web3

    from kpledger.chain.connection import InProcessChain
    from kpledger.ledger import Ledger

    if isinstance(target, ChainSource):
        return target
    if isinstance(target, str):
        if not target.startswith(("http://", "https://")):
            raise ConnectionFailed(f"{target!r}: the auditor reads from an http(s):// JSON-RPC endpoint")
        return ChainSource(HttpTransport(target), label=target)
    if isinstance(target, Ledger):
        return open_source(target.rpc)
    if isinstance(target, InProcessChain):
        return ChainSource(Web3Transport(Rpc(target.w3)), label="in-process chain")
    if isinstance(target, Rpc):
        provider = target.w3.provider
        if isinstance(provider, HTTPProvider) and provider.endpoint_uri:
            return open_source(str(provider.endpoint_uri))
        return ChainSource(Web3Transport(target), label=type(provider).__name__)
    if isinstance(target, Web3):
        return open_source(Rpc(target))
    raise TypeError(f"cannot read a chain from {type(target).__name__}")
