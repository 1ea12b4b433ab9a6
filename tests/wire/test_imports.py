"""llmaas.wire is the bottom layer: it imports nothing else of the project."""

from __future__ import annotations

import ast
from pathlib import Path

import llmaas.wire

WIRE = Path(llmaas.wire.__file__).parent


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_wire_imports_nothing_of_the_project() -> None:
    outside = {
        f"{path.name}: {name}"
        for path in sorted(WIRE.glob("*.py"))
        for name in imported(path)
        if name.split(".")[0] == "llmaas" and not name.startswith("llmaas.wire")
    }
    assert not outside, f"llmaas.wire must stay at the bottom: {sorted(outside)}"
