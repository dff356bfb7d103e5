"""Direct ABI encoding and decoding for the ledger's contracts.

Why not web3's contract objects on the hot path: they re-resolve the ABI element on
every call, which costs more than signing. Here every function, event and error is
resolved once into a selector and a list of types; encoding is one ``eth_abi`` call.

Events are decoded by slicing words when every field is an elementary type (all of the
contracts' events are): eth_abi builds and walks a decoder tree per call, ~0.1 ms an
event, which was the largest client cost of bulk verification. Anything the slicing
does not accept exactly (dirty padding, odd offsets) goes to eth_abi, which decides, so
the two can only differ in speed; ``tests/chain/test_abi.py`` holds them equal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak


def _canonical_type(item: dict[str, Any]) -> str:
    """ABI type with tuples spelled out, e.g. ``(bytes32,string)[]``."""
    kind: str = item["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in item["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@dataclass(frozen=True)
class AbiFunction:
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    output_names: tuple[str, ...]
    outputs: tuple[dict[str, Any], ...]

    def encode(self, args: Sequence[Any]) -> bytes:
        return self.selector + abi_encode(self.input_types, list(args))

    def decode(self, data: bytes) -> tuple[Any, ...]:
        return tuple(abi_decode(self.output_types, data))


@dataclass(frozen=True)
class AbiError:
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    input_names: tuple[str, ...]

    def decode(self, data: bytes) -> dict[str, Any]:
        values = abi_decode(self.input_types, data[4:])
        return dict(zip(self.input_names, values, strict=True))


class _NotExact(Exception):
    """The fast decoder does not vouch for this input: eth_abi decides."""


_WORD = 32
_ZERO = bytes(_WORD)
_STATIC = re.compile(r"(uint|int|bytes)(\d+)|address|bool")
WordDecoder = Callable[[bytes], Any]


def _word_decoder(kind: str) -> WordDecoder | None:
    """One 32-byte word to the value eth_abi gives, for static elementary types."""
    match = _STATIC.fullmatch(kind)
    if match is None:
        return None
    base, size = match.group(1), int(match.group(2) or 0)
    if kind == "address":

        def address(word: bytes) -> str:
            if word[:12] != _ZERO[:12]:
                raise _NotExact
            return "0x" + word[12:].hex()  # eth_abi's form: lower case, not EIP-55

        return address
    if kind == "bool":

        def boolean(word: bytes) -> bool:
            if word[:31] != _ZERO[:31] or word[31] > 1:
                raise _NotExact
            return word[31] == 1

        return boolean
    if base == "uint" and size % 8 == 0 and 8 <= size <= 256:
        free = _WORD - size // 8

        def uint(word: bytes) -> int:
            if word[:free] != _ZERO[:free]:
                raise _NotExact
            return int.from_bytes(word, "big")

        return uint
    if base == "bytes" and 1 <= size <= _WORD:

        def fixed(word: bytes) -> bytes:
            if word[size:] != _ZERO[size:]:
                raise _NotExact
            return word[:size]

        return fixed
    return None  # intN: rare, and its sign extension is eth_abi's to check


def dynamic_at(data: bytes, at: int, lowest: int) -> bytes | None:
    """The ``bytes``/``string`` value whose length word is at ``at``, held to eth_abi's
    rules: at or past ``lowest`` (a pointer into the head it belongs to is refused),
    inside the data, zero padding. None when it breaks one. Shared by every hand decoder
    of the client (event data here, certificate views and multicall answers in
    :mod:`kpledger.chain.records`)."""
    if at < lowest or at + _WORD > len(data):
        return None
    length = int.from_bytes(data[at : at + _WORD], "big")
    start, end = at + _WORD, at + _WORD + length
    padded = start + -(-length // _WORD) * _WORD
    if padded > len(data) or data[end:padded] != bytes(padded - end):
        return None
    return data[start:end]


def _dynamic(data: bytes, offset_word: bytes, text: bool, head: int) -> Any:
    at = int.from_bytes(offset_word, "big")
    raw = None if at % _WORD else dynamic_at(data, at, head)
    if raw is None:
        raise _NotExact
    if not text:
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotExact from None


def _flat_decoder(types: Sequence[str]) -> Callable[[bytes], tuple[Any, ...]] | None:
    """``data -> values`` for a flat list of elementary types, or None when one is not."""
    steps: list[tuple[WordDecoder | None, bool]] = []
    for kind in types:
        word = _word_decoder(kind)
        if word is None and kind not in ("string", "bytes"):
            return None
        steps.append((word, kind == "string"))
    size = _WORD * len(steps)

    def decode(data: bytes) -> tuple[Any, ...]:
        if len(data) < size:
            raise _NotExact
        values = []
        for i, (word, text) in enumerate(steps):
            chunk = data[i * _WORD : (i + 1) * _WORD]
            values.append(word(chunk) if word is not None else _dynamic(data, chunk, text, size))
        return tuple(values)

    return decode


@dataclass(frozen=True)
class AbiEvent:
    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]
    _fast: Callable[[Sequence[bytes], bytes], dict[str, Any]] | None = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fast", self._fast_decoder())

    def _fast_decoder(self) -> Callable[[Sequence[bytes], bytes], dict[str, Any]] | None:
        topic_words = [_word_decoder(kind) for _, kind in self.indexed]
        body = _flat_decoder([kind for _, kind in self.data])
        if body is None or any(word is None for word in topic_words):
            return None  # an indexed string is only its hash: eth_abi's business
        words = [word for word in topic_words if word is not None]
        names = [name for name, _ in self.indexed] + [name for name, _ in self.data]

        def decode(topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
            if len(topics) != len(words) + 1 or any(len(t) != _WORD for t in topics[1:]):
                raise _NotExact
            values = [word(bytes(t)) for word, t in zip(words, topics[1:], strict=True)]
            return dict(zip(names, [*values, *body(data)], strict=True))

        return decode

    def decode(self, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
        if self._fast is not None:
            try:
                return self._fast(topics, data)
            except _NotExact:
                pass
        values: dict[str, Any] = {}
        for (name, kind), topic in zip(self.indexed, topics[1:], strict=True):
            values[name] = abi_decode([kind], topic)[0]
        decoded = abi_decode([kind for _, kind in self.data], data)
        values.update(zip((name for name, _ in self.data), decoded, strict=True))
        return values


class ContractInterface:
    """A contract's ABI resolved once: functions by name, errors by selector, events by
    topic."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self.abi = abi
        self.functions: dict[str, AbiFunction] = {}
        self.errors: dict[bytes, AbiError] = {}
        self.events: dict[bytes, AbiEvent] = {}
        self.events_by_name: dict[str, AbiEvent] = {}
        for item in abi:
            kind = item.get("type")
            if kind == "function":
                inputs = tuple(_canonical_type(i) for i in item["inputs"])
                signature = f"{item['name']}({','.join(inputs)})"
                self.functions[item["name"]] = AbiFunction(
                    name=item["name"],
                    selector=keccak(text=signature)[:4],
                    input_types=inputs,
                    output_types=tuple(_canonical_type(o) for o in item["outputs"]),
                    output_names=tuple(o["name"] for o in item["outputs"]),
                    outputs=tuple(item["outputs"]),
                )
            elif kind == "error":
                inputs = tuple(_canonical_type(i) for i in item["inputs"])
                selector = keccak(text=f"{item['name']}({','.join(inputs)})")[:4]
                self.errors[selector] = AbiError(
                    item["name"], selector, inputs, tuple(i["name"] for i in item["inputs"])
                )
            elif kind == "event":
                types = [_canonical_type(i) for i in item["inputs"]]
                event = AbiEvent(
                    name=item["name"],
                    topic=keccak(text=f"{item['name']}({','.join(types)})"),
                    indexed=tuple(
                        (i["name"], t) for i, t in zip(item["inputs"], types, strict=True) if i["indexed"]
                    ),
                    data=tuple(
                        (i["name"], t) for i, t in zip(item["inputs"], types, strict=True) if not i["indexed"]
                    ),
                )
                self.events[event.topic] = event
                self.events_by_name[event.name] = event

    def fn(self, name: str) -> AbiFunction:
        return self.functions[name]
