"""A question's `proof:`: the browser test that shows its key holds (docs/quiz-format.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StrictStr

# `tests/<file>.py::test_<name>`, as pytest names a test on its command line.
PROOF_PATTERN = r"tests/[a-z0-9_/]+\.py::test_[a-z0-9_]+"


def _proof(value: str) -> str:
    if not re.fullmatch(PROOF_PATTERN, value):
        raise ValueError(f"must name a test as tests/<file>.py::test_<name>, not {value!r}")
    return value


def _one_or_many(value: Any) -> Any:
    # One proof is written as a plain string; several as a list.
    return [value] if isinstance(value, str) else value


Proofs = Annotated[
    list[Annotated[StrictStr, AfterValidator(_proof)]], BeforeValidator(_one_or_many)
]


def proof_missing(proof: str, *, root: Path) -> str | None:
    """Why `proof` names no test under `root`, or None when the test function exists."""
    path, name = proof.split("::")
    try:
        tree = ast.parse((root / path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError) as exc:
        return f"proof {proof!r}: cannot read {path} ({exc.__class__.__name__})"
    # Module-level functions only: that is how the browser suites are written, and a
    # method would need its class in the name.
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return None if name in names else f"proof {proof!r}: {path} has no function {name}"
