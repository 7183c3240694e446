"""Every outbound HTTP call goes through the gateway: no other module can reach an HTTP client.

An AST scan, not a text search: outside `shared/gateway/`, httpx may be imported only under
`if TYPE_CHECKING:` and used only in annotations; urllib.request, http.client, requests and
aiohttp may not be imported (or reached through an attribute, or `__import__`) at all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "shared", "services", "cli")
GATEWAY = ROOT / "shared" / "gateway"
HTTPX = "httpx"
OTHER_CLIENTS = ("urllib.request", "http.client", "requests", "aiohttp")
REEXPORTED = (HTTPX, "requests", "aiohttp")
DYNAMIC_IMPORTS = ("__import__", "importlib.import_module", "importlib.__import__")


# (file, finding) pairs owned by another change; each must still occur, so a fixed one is
# removed here. handlers.py only annotates with httpx.Response: its import belongs under
# TYPE_CHECKING.
def _within(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _bindings(tree: ast.AST) -> dict[str, str]:
    """Each name an import binds, mapped to the dotted name it stands for."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    bound[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


class _Scan(ast.NodeVisitor):
    """Collects (line, what) for every way the module reaches an HTTP client."""

    def __init__(self, bound: dict[str, str]) -> None:
        self.found: list[tuple[int, str]] = []
        self._bound = bound
        self._type_only = False  # inside `if TYPE_CHECKING:`, or an annotation

    def _flag(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    def _type_only_visit(self, node: ast.AST | None) -> None:
        if node is None:
            return
        outer, self._type_only = self._type_only, True
        self.visit(node)
        self._type_only = outer

    def _imported(self, node: ast.AST, names: list[str]) -> None:
        for name in names:
            if _within(name, OTHER_CLIENTS):
                self._flag(node, f"imports {name}")
            elif _within(name, (HTTPX,)) and not self._type_only:
                self._flag(node, "imports httpx outside TYPE_CHECKING")

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        for statement in node.body:
            self._type_only_visit(statement)
        for statement in node.orelse:
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        self._imported(node, [alias.name for alias in node.names])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        names = [f"{node.module}.{alias.name}" for alias in node.names]
        # `from somewhere import httpx` re-exports the module under its own name.
        names += [alias.name for alias in node.names if alias.name in REEXPORTED]
        self._imported(node, [node.module, *names])

    def visit_arg(self, node: ast.arg) -> None:
        self._type_only_visit(node.annotation)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.visit(node.args)
        self._type_only_visit(node.returns)
        for statement in node.body:
            self.visit(statement)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        self._type_only_visit(node.annotation)
        if node.value is not None:
            self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        target = self._resolve(node.func)
        first = node.args[0] if node.args else None
        if (
            target in DYNAMIC_IMPORTS
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and _within(first.value, (HTTPX, *OTHER_CLIENTS))
        ):
            self._flag(node, f"imports {first.value} dynamically")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self._used(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self._resolve(node) is None:
            self.generic_visit(node)  # not a plain dotted name: look inside
        else:
            self._used(node)

    def _used(self, node: ast.expr) -> None:
        name = self._resolve(node)
        if name is None or self._type_only:
            return
        if _within(name, (HTTPX, *OTHER_CLIENTS)):
            self._flag(node, f"uses {name}")

    def _resolve(self, node: ast.expr) -> str | None:
        """The dotted name an expression like `a.b.c` stands for, through the imports."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        root = self._bound.get(node.id, node.id if node.id == "__import__" else None)
        if root is None:
            return None
        return ".".join([root, *reversed(parts)])


def http_client_findings(source: str) -> list[tuple[int, str]]:
    """(line, what) for each way this module, outside the gateway, reaches an HTTP client."""
    tree = ast.parse(source)
    scan = _Scan(_bindings(tree))
    scan.visit(tree)
    return sorted(set(scan.found))


def project_findings() -> list[tuple[str, int, str]]:
    """(file, line, what) for every module of the project's packages outside the gateway."""
    files = sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))
    assert files, "no source files found: is ROOT right?"
    found = []
    for path in files:
        if path.is_relative_to(GATEWAY):
            continue
        where = path.relative_to(ROOT).as_posix()
        for line, what in http_client_findings(path.read_text(encoding="utf-8")):
            found.append((where, line, what))
    return found


def test_no_module_outside_the_gateway_reaches_an_http_client() -> None:
    found = project_findings()
    assert [f"{where}:{line}: {what}" for where, line, what in found] == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from httpx import AsyncClient\n", ["imports httpx outside TYPE_CHECKING"]),
        (
            "import httpx\nhttpx.post('https://example.com')\n",
            ["imports httpx outside TYPE_CHECKING", "uses httpx.post"],
        ),
        (
            "import httpx as h\nasync def f() -> None:\n    await h.AsyncClient().get('/')\n",
            ["imports httpx outside TYPE_CHECKING", "uses httpx.AsyncClient"],
        ),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx\n"
            "client = httpx.AsyncClient()\n",
            ["uses httpx.AsyncClient"],
        ),
        (
            "if TYPE_CHECKING:\n    from httpx import Client\nmake = Client\n",
            ["uses httpx.Client"],
        ),
        ("import httpx._client\n", ["imports httpx outside TYPE_CHECKING"]),
        ("from shared.gateway.client import httpx\n", ["imports httpx outside TYPE_CHECKING"]),
        ("import urllib.request\n", ["imports urllib.request"]),
        ("from urllib import request\n", ["imports urllib.request"]),
        ("import urllib\nurllib.request.urlopen('x')\n", ["uses urllib.request.urlopen"]),
        ("from http import client\n", ["imports http.client"]),
        ("import http.client as hc\n", ["imports http.client"]),
        ("import requests\n", ["imports requests"]),
        (
            "from aiohttp import ClientSession\n",
            ["imports aiohttp", "imports aiohttp.ClientSession"],
        ),
        ("if TYPE_CHECKING:\n    import requests\n", ["imports requests"]),
        ("m = __import__('httpx')\n", ["imports httpx dynamically"]),
        (
            "import importlib\nimportlib.import_module('requests')\n",
            ["imports requests dynamically"],
        ),
    ],
)
def test_the_scan_flags(source: str, expected: list[str]) -> None:
    assert sorted({what for _line, what in http_client_findings(source)}) == sorted(expected)


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import httpx\n"
        "def f(r: httpx.Response) -> httpx.Response:\n    x: httpx.Response = r\n    return x\n",
        "import typing\nif typing.TYPE_CHECKING:\n    from httpx import Response\n"
        "async def f(r: 'Response') -> Response | None: ...\n",
        "from urllib.parse import urlencode\nfrom http import HTTPStatus\n",
        "from starlette.requests import Request\nrequests = [1]\n",
        "from shared.gateway import Gateway\n",
    ],
)
def test_the_scan_allows(source: str) -> None:
    assert http_client_findings(source) == []
