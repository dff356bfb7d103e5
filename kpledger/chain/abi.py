"""Direct ABI encoding and decoding for the ledger's contracts.

Why not web3's contract objects on the hot path: they re-resolve the ABI element on
every call, which costs more than signing. Here every function, event and error is
resolved once into a selector and a list of types; encoding is one ``eth_abi`` call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class AbiEvent:
    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]

    def decode(self, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
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
