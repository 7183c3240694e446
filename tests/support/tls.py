"""A throwaway CA and a server certificate it signed, made with the openssl command."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.tools import needs_tool

needs_openssl = needs_tool(shutil.which("openssl") is not None, "needs the openssl command")


@dataclass(frozen=True)
class Certificates:
    """The CA's certificate file and a server context holding the certificate it signed."""

    ca: Path
    server: ssl.SSLContext

    def client(self) -> ssl.SSLContext:
        """A client context that trusts only this CA."""
        return ssl.create_default_context(cafile=str(self.ca))


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def throwaway_certificates(directory: Path, name: str = "127.0.0.1") -> Certificates:
    """A CA and a certificate for `name` (an IP address or a DNS name), valid for a day."""
    san = f"IP:{name}" if name.replace(".", "").isdigit() else f"DNS:{name}"
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1",
        "-subj", "/CN=eventyard test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={name}",
        "-addext", f"subjectAltName={san}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "1", "-copy_extensions", "copy",
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return Certificates(ca, server)
