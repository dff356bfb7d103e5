"""Decode the contracts' logs straight from JSON-RPC hex into JSON-safe values.

Why not ``eth_abi.decode``: it costs ~60 µs per event, which alone caps replay below
20,000 events/s. The contracts' events only use static words (``bytesN``, ``address``,
``uintN``, ``intN``, ``bool``) and top-level ``string``/``bytes``, so they are decoded
here by slicing the hex text; any other type falls back to ``eth_abi`` for that event.
The tests hold this decoder equal to ``eth_abi`` on random values of every event.

Values come out in the index's conventions: ``bytes32``/``bytes``/``address`` as
``0x`` + lower-case hex, a ``bytes2`` participant code as its two letters (hex if it is
not two upper-case letters), integers as ``int``, strings as ``str`` (bytes that are not
UTF-8 are replaced by U+FFFD: event strings are unchecked bytes on chain).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

Value = str | int | bool
Args = dict[str, Value]


def _canonical(item: Mapping[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical(c) for c in item["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def code_text(raw: bytes) -> str:
    """A participant code as text: two upper-case letters, else ``0x`` hex."""
    if len(raw) == 2 and all(0x41 <= b <= 0x5A for b in raw):
        return raw.decode("ascii")
    return "0x" + raw.hex()


@lru_cache(maxsize=4096)
def _code_word(digits: str) -> Value:
    """A ``bytes2`` code from its four hex digits (few distinct ones: cached)."""
    return code_text(bytes.fromhex(digits))


_ELEMENTARY = re.compile(r"(u?int|bytes)(\d*)|address|bool")


def _word_decoder(kind: str) -> Callable[[str], Value] | None:
    """A function from one 64-digit hex word to its value, for static elementary
    types; None for anything else (strings, bytes, arrays, tuples)."""
    match = _ELEMENTARY.fullmatch(kind)
    if match is None or kind == "bytes":
        return None
    if kind == "address":
        return lambda w: "0x" + w[24:]
    if kind == "bool":
        return lambda w: int(w, 16) != 0
    if kind.startswith("uint"):
        return lambda w: int(w, 16)
    if kind.startswith("int"):
        # The ABI sign-extends every intN to 256 bits.
        return lambda w: int(w, 16) - (1 << 256) if w[0] in "89abcdef" else int(w, 16)
    if kind == "bytes32":
        return lambda w: "0x" + w
    if kind == "bytes2":
        return lambda w: _code_word(w[:4])
    if kind.startswith("bytes"):
        size = int(kind[5:])
        return lambda w: "0x" + w[: 2 * size]
    return None


def normalise(kind: str, value: Any) -> Value:
    """An ``eth_abi`` value in the index's conventions (the fallback path and tests)."""
    if kind == "address":
        return str(value).lower()
    if kind == "bytes2":
        return code_text(bytes(value))
    if kind.startswith("bytes") or kind == "bytes":
        return "0x" + bytes(value).hex()
    if kind == "string":
        return str(value)
    if isinstance(value, bool | int):
        return value
    raise TypeError(f"no JSON form for {kind} values")


def _expression(kind: str, text: str, start: int) -> str | None:
    """Python source decoding the 64-digit word at ``text[start:start + 64]`` (``text``
    is the source of a lower-case hex string), or None if ``kind`` is not a static
    elementary type. Slices the text in place: no copy of the word or of the data."""
    if _ELEMENTARY.fullmatch(kind) is None or kind == "bytes":
        return None
    end = start + 64
    if kind == "address":
        return f'"0x" + {text}[{start + 24}:{end}]'
    if kind == "bool":
        return f"int({text}[{start}:{end}], 16) != 0"
    if kind.startswith("uint"):
        return f"int({text}[{start}:{end}], 16)"
    if kind.startswith("int"):
        return f"_signed({text}[{start}:{end}])"
    if kind == "bytes32":
        return f'"0x" + {text}[{start}:{end}]'
    if kind == "bytes2":
        return f"_code_word({text}[{start}:{start + 4}])"
    return f'"0x" + {text}[{start}:{start + 2 * int(kind[5:])}]'


def _topic_expression(kind: str, index: int) -> str:
    """Python source of topic ``index``'s value. A ``bytes32`` topic is already in the
    index's form (``0x`` + lower-case hex), as is the keccak hash that stands for an
    indexed dynamic value."""
    topic = f"topics[{index}]"
    if kind == "bytes32":
        return topic
    return _expression(kind, topic, 2) or topic


def _signed(word: str) -> int:
    # The ABI sign-extends every intN to 256 bits.
    return int(word, 16) - (1 << 256) if word[0] in "89abcdef" else int(word, 16)


def _dynamic(data: str, word: str, name: str) -> str:
    """The hex digits of a ``string``/``bytes`` value whose offset word is ``word``
    (``data`` starts with ``0x``; the offset counts from the byte after it)."""
    start = 2 + 2 * int(word, 16)
    length = 2 * int(data[start : start + 64] or "0", 16)
    raw = data[start + 64 : start + 64 + length]
    if len(raw) != length or start + 64 > len(data):
        raise ValueError(f"{name} runs past the data")
    return raw


def _text(data: str, word: str, name: str) -> str:
    return bytes.fromhex(_dynamic(data, word, name)).decode("utf-8", "replace")


def _compile(indexed: tuple[tuple[str, str], ...], data: tuple[tuple[str, str], ...]) -> Callable[..., Args]:
    """One function per event: a dict display of slices and ``int(..., 16)`` calls,
    generated once from the ABI (an indexed dynamic value is only its keccak hash)."""
    items = [f"{name!r}: {_topic_expression(kind, i)}" for i, (name, kind) in enumerate(indexed, start=1)]
    for slot, (name, kind) in enumerate(data):
        start = 2 + 64 * slot
        word = f"data[{start}:{start + 64}]"
        if kind == "string":
            items.append(f"{name!r}: _text(data, {word}, {name!r})")
        elif kind == "bytes":
            items.append(f'{name!r}: "0x" + _dynamic(data, {word}, {name!r})')
        else:
            expression = _expression(kind, "data", start)
            assert expression is not None, kind
            items.append(f"{name!r}: {expression}")
    source = "def decode(topics, data):\n    return {" + ", ".join(items) + "}\n"
    namespace: dict[str, Any] = {
        "_code_word": _code_word,
        "_signed": _signed,
        "_text": _text,
        "_dynamic": _dynamic,
    }
    exec(compile(source, "<kpledger.audit.decode>", "exec"), namespace)
    decoder: Callable[..., Args] = namespace["decode"]
    return decoder


@dataclass(frozen=True)
class EventSpec:
    """One event of one contract, resolved for fast decoding. Inputs are lower-case
    ``0x`` hex (as :class:`~kpledger.audit.source.ChainSource` returns them)."""

    contract: str
    name: str
    topic: str
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]
    fast: bool
    _decode: Callable[..., Args] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_decode", _compile(self.indexed, self.data) if self.fast else None)

    def decode(self, topics: Sequence[str], data: str) -> Args:
        """Arguments of a log of this event (``topics`` and ``data`` as ``0x`` hex)."""
        if len(topics) != len(self.indexed) + 1:
            raise ValueError(f"{self.name}: {len(topics)} topics, expected {len(self.indexed) + 1}")
        if self._decode is not None:
            if len(data) < 2 + 64 * len(self.data):
                raise ValueError(f"{self.name}: data too short")
            try:
                return self._decode(topics, data)
            except ValueError as exc:
                raise ValueError(f"{self.name}: {exc}") from None
        args: Args = {}
        for i, (name, kind) in enumerate(self.indexed, start=1):
            expression = _word_decoder(kind)
            args[name] = expression(topics[i][2:]) if expression is not None else topics[i]
        values = abi_decode([k for _, k in self.data], bytes.fromhex(data[2:]))
        for (name, kind), value in zip(self.data, values, strict=True):
            args[name] = normalise(kind, value)
        return args


def _is_fast(kind: str) -> bool:
    return kind in ("string", "bytes") or _word_decoder(kind) is not None


class EventDecoder:
    """Events of several contracts by (contract label, topic 0)."""

    def __init__(self, abis: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        self.specs: dict[tuple[str, str], EventSpec] = {}
        for contract, abi in abis.items():
            for item in abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                types = [_canonical(i) for i in item["inputs"]]
                topic = "0x" + keccak(text=f"{item['name']}({','.join(types)})").hex()
                pairs = list(zip(item["inputs"], types, strict=True))
                indexed = tuple((str(i["name"]), t) for i, t in pairs if i["indexed"])
                data = tuple((str(i["name"]), t) for i, t in pairs if not i["indexed"])
                fast = all(_is_fast(t) for _, t in data)
                self.specs[(contract, topic)] = EventSpec(
                    contract, str(item["name"]), topic, indexed, data, fast
                )

    def spec(self, contract: str, topic: str) -> EventSpec | None:
        return self.specs.get((contract, topic.lower()))

    def by_name(self, contract: str, name: str) -> EventSpec:
        for spec in self.specs.values():
            if spec.contract == contract and spec.name == name:
                return spec
        raise KeyError(f"{contract} has no event {name}")
