"""Every outbound HTTP call goes through the gateway: no other module makes a client."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "shared", "services", "cli")
GATEWAY = ROOT / "shared" / "gateway"
CONSTRUCTORS = ("httpx.AsyncClient(", "httpx.Client(")
FORBIDDEN_MODULES = ("requests", "aiohttp", "urllib.request")


def forbidden_imports(source: str) -> list[str]:
    """The HTTP-client modules a source file imports."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found += [
            n for n in names if any(n == m or n.startswith(m + ".") for m in FORBIDDEN_MODULES)
        ]
    return found


def test_no_module_outside_the_gateway_makes_an_http_client() -> None:
    offenders: list[str] = []
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    assert files, "no source files found: is ROOT right?"
    for path in files:
        if path.is_relative_to(GATEWAY):
            continue
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        offenders += [f"{where}: {c}" for c in CONSTRUCTORS if c in source]
        offenders += [f"{where}: imports {m}" for m in forbidden_imports(source)]
    assert offenders == []


def test_the_scan_recognises_each_forbidden_import() -> None:
    source = "import requests\nfrom aiohttp import ClientSession\nfrom urllib import request\n"
    source += "import urllib.request as u\nfrom urllib.parse import quote\n"
    assert forbidden_imports(source) == [
        "requests",
        "aiohttp",
        "aiohttp.ClientSession",
        "urllib.request",
        "urllib.request",
    ]
