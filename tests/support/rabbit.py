"""Throwaway RabbitMQ nodes (and a 3-node cluster) beside the main broker, for fault tests.

Follows /work/shared/RELIABILITY-NOTES.md: each node runs `/usr/lib/rabbitmq/bin/rabbitmq-server`
as a child in its own session (so the whole process group can be killed), with its own ports,
data and log directories, an empty plugin list and a HOME of the suite's own (Erlang cookie).
Readiness is the server's first AMQP frame. Nothing here touches the main broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.services import free_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


class NodeError(RuntimeError):
    """A throwaway node did not start, stop or answer as expected."""


@dataclass
class RabbitNode:
    """One throwaway node: its name, ports and directories; started and stopped by pid."""

    name: str
    port: int
    dist_port: int
    base: Path
    home: Path
    peers: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> tuple[str, int]:
        """Where its AMQP listener is."""
        return ("127.0.0.1", self.port)

    def url(self, vhost: str = "") -> str:
        """The AMQP URL of one of its vhosts (the default vhost when empty)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    @property
    def running(self) -> bool:
        """Whether the node's process group leader is still alive."""
        return self.process is not None and self.process.poll() is None

    def environment(self) -> dict[str, str]:
        """The RABBITMQ_* environment that keeps this node apart from every other."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": str(self.home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def _write_files(self) -> None:
        for sub in ("mnesia", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        lines = [f"listeners.tcp.1 = 127.0.0.1:{self.port}"]
        if self.peers:
            lines.append("cluster_formation.peer_discovery_backend = classic_config")
            lines += [
                f"cluster_formation.classic_config.nodes.{n} = {peer}"
                for n, peer in enumerate(self.peers, start=1)
            ]
        (self.base / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").touch()

    async def start(self, timeout: float = 90.0) -> None:
        """Start the node (again, on the same data) and wait for its first AMQP frame."""
        if self.running:
            return
        self._write_files()
        with (self.base / "server.log").open("ab") as sink:
            self.process = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self.environment(),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not await amqp_answers(self.port):
            if not self.running:
                raise NodeError(f"{self.name} exited while starting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                await self.kill()
                raise NodeError(f"{self.name} not ready within {timeout} s:\n{self.log_tail()}")
            await asyncio.sleep(0.2)

    async def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would; wait until it is gone."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)
        # The group may outlive its leader for a moment (beam.smp is a child of the script).
        await _until_group_gone(self.process.pid, 10.0)

    async def stop(self, grace: float = 30.0) -> None:
        """A clean shutdown (SIGTERM to the Erlang VM); SIGKILL if it takes too long."""
        if self.process is None or not self.running:
            await self.kill()
            return
        beam = self._beam_pid()
        with contextlib.suppress(ProcessLookupError):
            os.kill(beam if beam is not None else self.process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(self.process.wait), grace)
        await self.kill()

    async def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """`rabbitmqctl -n NODE ARGS…` (the unwrapped one, so it reads this suite's cookie)."""
        return await self._tool("rabbitmqctl", *args, timeout=timeout)

    async def _tool(self, tool: str, *args: str, timeout: float) -> str:
        command = [str(RABBIT_BIN / tool), "-n", self.name, "-q", *args]
        done = await asyncio.to_thread(
            subprocess.run,
            command,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise NodeError(f"{tool} {' '.join(args)} on {self.name}: {done.stderr.strip()}")
        return done.stdout

    def _beam_pid(self) -> int | None:
        try:
            return int((self.base / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the node's console output, for failure messages."""
        try:
            return (self.base / "server.log").read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


async def amqp_answers(port: int) -> bool:
    """Whether something on the port answers the AMQP protocol header with a method frame."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(AMQP_HEADER)
        await writer.drain()
        first = await asyncio.wait_for(reader.read(1), 3)
        return first == b"\x01"  # frame type 1: the server's connection.start
    except (OSError, TimeoutError):
        return False
    finally:
        writer.transport.abort()


async def _until_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    raise NodeError(f"process group {pgid} still alive after SIGKILL")


def new_nodes(workdir: Path, count: int, *, clustered: bool) -> list[RabbitNode]:
    """`count` nodes with fresh names and free ports; clustered ones list each other as peers."""
    tag = uuid.uuid4().hex[:6]
    names = [f"ey{tag}{chr(ord('a') + n)}@localhost" for n in range(count)]
    home = workdir / "home"
    return [
        RabbitNode(
            name=name,
            port=free_port(),
            dist_port=free_port(),
            base=workdir / name.split("@")[0],
            home=home,
            peers=tuple(names) if clustered else (),
        )
        for name in names
    ]


@asynccontextmanager
async def rabbit_node(workdir: Path) -> AsyncIterator[RabbitNode]:
    """One throwaway node, stopped (and, if need be, killed) at the end."""
    [node] = new_nodes(workdir, 1, clustered=False)
    try:
        await node.start()
        yield node
    finally:
        await node.stop()


@dataclass
class Cluster:
    """Three clustered throwaway nodes."""

    nodes: list[RabbitNode]

    def node(self, name: str) -> RabbitNode:
        """The node of this name."""
        return next(n for n in self.nodes if n.name == name)

    @property
    def running(self) -> list[RabbitNode]:
        """The nodes whose processes are alive."""
        return [n for n in self.nodes if n.running]

    async def start_all(self) -> None:
        """Start every node that is not running (a restarted node rejoins the others)."""
        await asyncio.gather(*(n.start() for n in self.nodes if not n.running))
        await self.await_members(len(self.nodes))

    async def await_members(self, count: int, timeout: float = 60.0) -> None:
        """Wait until a running node reports `count` running cluster members."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                last = await self.running[0].ctl("eval", "length(rabbit_nodes:all_running()).")
                if last.strip() == str(count):
                    return
            except (NodeError, subprocess.TimeoutExpired) as error:
                last = str(error)
            await asyncio.sleep(0.5)
        raise NodeError(f"the cluster never reported {count} running members: {last}")


async def boot(cluster: Cluster) -> Cluster:
    """Start a fresh cluster: the first node forms it, the others join one at a time.

    (Starting them together was measured no faster on two cores, and joins can race.)
    """
    for node in cluster.nodes:
        await node.start()
    await cluster.await_members(len(cluster.nodes))
    return cluster


async def stop_all(nodes: Sequence[RabbitNode]) -> None:
    """Stop every node (SIGTERM, then SIGKILL of its group), whatever state it is in."""
    await asyncio.gather(*(n.stop() for n in nodes), return_exceptions=True)


@asynccontextmanager
async def rabbit_cluster(workdir: Path, size: int = 3) -> AsyncIterator[Cluster]:
    """`size` nodes that form one cluster (classic peer discovery); all stopped at the end."""
    cluster = Cluster(new_nodes(workdir, size, clustered=True))
    try:
        yield await boot(cluster)
    finally:
        await stop_all(cluster.nodes)


class BackgroundCluster:
    """A cluster booted in a thread of its own, so its ~20 s boot overlaps other tests.

    The nodes hold no event-loop state, so tests drive them from their own loops once
    `ready` returns. `stop` waits for the boot to end, then stops every node by pid.
    """

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.cluster = Cluster(new_nodes(workdir, size, clustered=True))
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._boot, name="cluster-boot", daemon=True)

    def start(self) -> BackgroundCluster:
        """Begin booting."""
        self._thread.start()
        return self

    def _boot(self) -> None:
        try:
            asyncio.run(boot(self.cluster))
        except BaseException as error:  # handed to whoever waits in `ready`
            self._error = error
        finally:
            self._done.set()

    async def ready(self, timeout: float = 180.0) -> Cluster:
        """The cluster once booted (raises what the boot raised)."""
        if not await asyncio.to_thread(self._done.wait, timeout):
            raise NodeError(f"the cluster did not boot within {timeout} s")
        if self._error is not None:
            raise NodeError(f"the cluster did not boot: {self._error!r}") from self._error
        return self.cluster

    def stop(self) -> None:
        """Stop every node (after the boot has finished or given up)."""
        self._done.wait(240)
        asyncio.run(stop_all(self.cluster.nodes))


@asynccontextmanager
async def node_vhost(nodes: Sequence[RabbitNode], prefix: str = "faults") -> AsyncIterator[str]:
    """A vhost of the test's own on throwaway node(s); yields its name, deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await _any_running(nodes).ctl("add_vhost", name)
    try:
        await _any_running(nodes).ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield name
    finally:
        with contextlib.suppress(NodeError, subprocess.TimeoutExpired):
            await _any_running(nodes).ctl("delete_vhost", name)


def _any_running(nodes: Sequence[RabbitNode]) -> RabbitNode:
    for node in nodes:
        if node.running:
            return node
    raise NodeError("no throwaway node is running")
