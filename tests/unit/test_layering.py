"""The rooms import only downwards: cli → services → shared → contracts (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What each room may import of the project's own: itself and the rooms below it.
ALLOWED = {
    "contracts": {"contracts"},
    "shared": {"shared", "contracts"},
    "services": {"services", "shared", "contracts"},
    "cli": {"cli", "services", "shared", "contracts"},
}


def imported_rooms(path: Path) -> set[str]:
    """The project's rooms a module imports (at any depth, TYPE_CHECKING blocks included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.level == 0
            else []
        )
        found |= {name.split(".")[0] for name in names} & set(ALLOWED)
    return found


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_a_room_imports_only_itself_and_the_rooms_below_it(room: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(rooms - ALLOWED[room])
        for path in sorted((ROOT / room).rglob("*.py"))
        if (rooms := imported_rooms(path)) - ALLOWED[room]
    }
    assert wrong == {}
