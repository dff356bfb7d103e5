"""The compiled contracts shipped inside the package (no compiler needed at run time)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from kpledger.chain.abi import ContractInterface
from kpledger.compiler import ARTIFACTS_PATH
from kpledger.errors import BuildError


@cache
def artifacts() -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(ARTIFACTS_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError(f"contract artifacts missing at {ARTIFACTS_PATH}: run `make compile`") from None
    return data


def contract(name: str) -> dict[str, Any]:
    value: dict[str, Any] = artifacts()["contracts"][name]
    return value


@cache
def interface(name: str) -> ContractInterface:
    return ContractInterface(contract(name)["abi"])
