"""Load on loopback: wrk (C, with a Lua script) for peak rates, a paced asyncio client for latency.

Each request is a signed Standard Webhooks delivery with its own `webhook-id`, so intake stores
every one instead of answering "duplicate". Signatures are made up front, so the load generator
does no crypto while it measures.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.core import percentile

WRK_SCRIPT = r"""
-- accepted and other are globals: done() reads them from each thread with thread:get().
accepted, other = 0, 0
local entries, threads, counter = {}, {}, 0
local body, stamp, path

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads - 1)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  path, stamp = args[3], args[4]
  local f = io.open(args[5], "rb"); body = f:read("*a"); f:close()
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == tid then
      local id, sig = line:match("^(%S+) (%S+)$")
      table.insert(entries, {id, sig})
    end
    n = n + 1
  end
end

function request()
  counter = counter + 1
  local e = entries[(counter - 1) % #entries + 1]
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["webhook-id"] = e[1],
    ["webhook-timestamp"] = stamp,
    ["webhook-signature"] = "v1," .. e[2],
  }, body)
end

function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, t in ipairs(threads) do ok = ok + t:get("accepted"); bad = bad + t:get("other") end
  io.write(string.format(
    '\nBENCH {"requests": %d, "micros": %d, "accepted": %d, "other": %d, ' ..
    '"errors": %d, "p50": %d, "p99": %d, "p999": %d}\n',
    summary.requests, summary.duration, ok, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9)))
end
"""


def whsec(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret."""
    encoded = secret.removeprefix("whsec_")
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


@dataclass
class SignedBatch:
    """`count` deliveries of one body, each with its own id, all signed at `stamp`."""

    secret: str
    body: bytes
    count: int
    stamp: str = field(default_factory=lambda: str(int(time.time())))
    entries: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        key = whsec(self.secret)
        prefix = uuid.uuid4().hex[:12]
        for n in range(self.count):
            webhook_id = f"msg_{prefix}_{n}"
            content = f"{webhook_id}.{self.stamp}.".encode() + self.body
            digest = hmac.new(key, content, hashlib.sha256).digest()
            self.entries.append((webhook_id, base64.b64encode(digest).decode()))

    def headers(self, index: int) -> dict[str, str]:
        """The signature headers of entry `index`."""
        webhook_id, signature = self.entries[index % len(self.entries)]
        return {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": self.stamp,
            "webhook-signature": f"v1,{signature}",
        }


@dataclass
class HttpResult:
    """What one load round measured."""

    rate: float  # accepted (202) per second
    requests: int
    accepted: int
    other: int
    errors: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def have_wrk() -> bool:
    """Whether wrk is installed."""
    return shutil.which("wrk") is not None


async def wrk(
    url: str, batch: SignedBatch, *, seconds: float, connections: int, workdir: Path
) -> HttpResult:
    """Closed-loop peak load: `connections` connections, 2 threads, for `seconds`."""
    script = workdir / "signed.lua"
    script.write_text(WRK_SCRIPT)
    ids = workdir / "signed-ids.txt"
    ids.write_text("".join(f"{i} {s}\n" for i, s in batch.entries))
    body = workdir / "signed-body.json"
    body.write_bytes(batch.body)
    base, _, path = url.partition("/webhooks/")
    threads = 2
    command = [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(script), base,
        "--", str(ids), str(threads), f"/webhooks/{path}", batch.stamp, str(body),
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk said: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    found = json.loads(line.removeprefix("BENCH "))
    span = found["micros"] / 1e6
    return HttpResult(
        rate=found["accepted"] / span,
        requests=found["requests"],
        accepted=found["accepted"],
        other=found["other"],
        errors=found["errors"],
        p50_ms=found["p50"] / 1000,
        p99_ms=found["p99"] / 1000,
        p999_ms=found["p999"] / 1000,
    )


def _request(path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def paced(
    url: str, batch: SignedBatch, *, rate: float, seconds: float, connections: int
) -> HttpResult:
    """Open-loop load at a steady `rate`: latency from each request's *scheduled* send time.

    Measuring from the schedule rather than the actual send keeps a stall from hiding the
    requests that queued behind it (no coordinated omission).
    """
    base, _, path = url.partition("/webhooks/")
    host_port = base.removeprefix("http://")
    host, _, port = host_port.partition(":")
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    errors = 0
    started = time.monotonic() + 0.2

    async def connection(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in range(k, total, connections):
                scheduled = started + i / rate
                delay = scheduled - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(_request(f"/webhooks/{path}", host_port, batch.headers(i), batch.body))
                try:
                    statuses[await _response(reader)] += 1
                except (asyncio.IncompleteReadError, ConnectionError) as error:
                    errors += 1
                    failures.append(f"request {i}: {type(error).__name__}: {error}"[:200])
                    return
                latencies.append(time.monotonic() - scheduled)
        finally:
            writer.close()

    await asyncio.gather(*(connection(k) for k in range(connections)))
    span = max(1e-6, time.monotonic() - started)
    return HttpResult(
        rate=statuses[202] / span,
        requests=sum(statuses.values()),
        accepted=statuses[202],
        other=sum(statuses.values()) - statuses[202],
        errors=errors,
        p50_ms=1000 * percentile(latencies, 0.50),
        p99_ms=1000 * percentile(latencies, 0.99),
        p999_ms=1000 * percentile(latencies, 0.999),
        statuses=dict(statuses),
        failures=failures,
    )


async def closed_loop(
    url: str,
    batch: SignedBatch,
    *,
    seconds: float,
    connections: int,
    count: int | None = None,
) -> HttpResult:
    """Load without wrk: each connection sends its next request when the last one was answered.

    Runs for `seconds`, or until `count` requests were sent when a count is given.
    """
    base, _, path = url.partition("/webhooks/")
    host_port = base.removeprefix("http://")
    host, _, port = host_port.partition(":")
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    counter = iter(range(count if count is not None else 10**12))
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < deadline:
                i = next(counter, None)
                if i is None:
                    return
                sent = time.monotonic()
                writer.write(_request(f"/webhooks/{path}", host_port, batch.headers(i), batch.body))
                statuses[await _response(reader)] += 1
                latencies.append(time.monotonic() - sent)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    span = time.monotonic() - started
    return HttpResult(
        rate=statuses[202] / span,
        requests=sum(statuses.values()),
        accepted=statuses[202],
        other=sum(statuses.values()) - statuses[202],
        errors=0,
        p50_ms=1000 * percentile(latencies, 0.50),
        p99_ms=1000 * percentile(latencies, 0.99),
        p999_ms=1000 * percentile(latencies, 0.999),
    )


async def peak(
    url: str, batch: SignedBatch, *, seconds: float, connections: int, workdir: Path
) -> HttpResult:
    """wrk when installed, else the asyncio client (which competes for the same 2 cores)."""
    if have_wrk():
        return await wrk(url, batch, seconds=seconds, connections=connections, workdir=workdir)
    return await closed_loop(url, batch, seconds=seconds, connections=connections)
