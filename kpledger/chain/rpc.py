"""Raw JSON-RPC over a web3 provider, with batching where the transport allows it.

Why raw: the write path signs locally and only needs a handful of methods
(``eth_sendRawTransaction``, ``eth_getTransactionReceipt``, ``eth_call``,
``eth_estimateGas``); calling them directly, and many per HTTP request, is what makes
anchoring fast. Errors come back as :class:`RpcError` with the node's code and data,
so revert bytes are never lost in a formatted message.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kpledger.errors import ChainError, ConnectionFailed

if TYPE_CHECKING:  # web3 is imported when a Web3 provider is used: HttpRpc needs none of it
    from web3 import Web3


class RpcError(ChainError):
    """The node answered a request with an error object."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.method = method
        self.code = error.get("code")
        self.message = str(error.get("message", ""))
        self.data = error.get("data")
        super().__init__(f"{method} failed: {self.message} (code {self.code})")


class Rpc:
    """Calls JSON-RPC methods on ``w3``'s provider."""

    def __init__(self, w3: Web3 | None) -> None:
        self.w3: Any = w3
        self._provider: Any = w3.provider if w3 is not None else None
        self._batching = hasattr(self._provider, "make_batch_request")

    def call(self, method: str, params: Sequence[Any]) -> Any:
        """One request through web3's formatters (results normalised alike for every
        provider); node errors become :class:`RpcError` with their revert data."""
        try:
            return self.w3.manager.request_blocking(method, list(params))
        except (OSError, ConnectionError) as exc:
            raise ConnectionFailed(f"node unreachable ({method}): {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            if _is_transport(exc):
                raise ConnectionFailed(f"node unreachable ({method}): {type(exc).__name__}: {exc}") from exc
            raise _as_rpc_error(method, exc) from exc

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any | RpcError]:
        """Results in request order; a failed request yields its :class:`RpcError`
        instead of failing the whole batch."""
        if not requests:
            return []
        if not self._batching:
            out: list[Any | RpcError] = []
            for method, params in requests:
                try:
                    out.append(self.call(method, params))
                except RpcError as exc:
                    out.append(exc)
            return out
        try:
            responses = self._provider.make_batch_request([(m, list(p)) for m, p in requests])
        except Exception as exc:
            if _is_transport(exc) or isinstance(exc, (OSError, ConnectionError)):
                raise ConnectionFailed(f"node unreachable (batch): {type(exc).__name__}: {exc}") from exc
            raise
        if isinstance(responses, dict):  # the node refused the batch as a whole
            raise RpcError("batch", responses.get("error") or {"message": str(responses)})
        results: list[Any | RpcError] = []
        for (method, _), response in zip(requests, responses, strict=True):
            try:
                results.append(_result(method, response))
            except RpcError as exc:
                results.append(exc)
        return results


def _as_rpc_error(method: str, exc: Exception) -> RpcError:
    from web3.exceptions import ContractLogicError, Web3RPCError

    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error: Any = exc.rpc_response.get("error")
        if isinstance(error, dict):
            return RpcError(method, error)
    if isinstance(exc, ContractLogicError):
        return RpcError(method, {"code": 3, "message": str(exc), "data": exc.data})
    message = str(exc)
    data = _raw_tester_revert(exc)
    if data is None:
        data = _tester_revert_bytes(message)
    if data is not None:  # eth-tester: "execution reverted: b'...'"
        return RpcError(method, {"code": 3, "message": "execution reverted", "data": "0x" + data.hex()})
    return RpcError(method, {"message": f"{type(exc).__name__}: {message}"})


def _raw_tester_revert(exc: BaseException) -> bytes | None:
    """eth-tester's original exception, which web3's tester provider re-raises as text
    after decoding the data as ``Error(string)`` (garbling custom errors whose first
    argument is a string), still holds the raw revert bytes in its context."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        first = seen.args[0] if seen.args else None
        if isinstance(first, Exception) and first.args:
            first = first.args[0]
        if isinstance(first, bytes):
            return first
        seen = seen.__cause__ or seen.__context__
    return None


def _tester_revert_bytes(message: str) -> bytes | None:
    marker = "execution reverted"
    if marker not in message:
        return None
    rest = message.split(marker, 1)[1].lstrip(": ")
    if rest.startswith(("b'", 'b"')):
        try:
            value = ast.literal_eval(rest)
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, bytes) else None
    return b"" if not rest else None


def _result(method: str, response: Any) -> Any:
    if "error" in response and response["error"] is not None:
        error = response["error"]
        raise RpcError(method, error if isinstance(error, dict) else {"message": str(error)})
    return response.get("result")


def _is_transport(exc: BaseException) -> bool:
    name = type(exc).__name__
    module = type(exc).__module__
    return module.startswith(("requests", "urllib3", "aiohttp")) or name in {
        "ConnectionError",
        "Timeout",
        "ReadTimeout",
        "ConnectTimeout",
    }
