"""A RabbitMQ cluster of three nodes on this machine, started and deleted by the project.

``Cluster`` starts its own nodes from Debian's rabbitmq-server, as the ``rabbitmq`` user, each
with its own node name (``songwenhua-a@localhost`` …), AMQP, distribution and management ports
(5701-5703, 25701-25703, 15701-15703 by default), data and log folders under the run's
temporary folder, config file and Erlang cookie (its own HOME), so that it shares nothing with
the machine's own broker but epmd, the name directory every Erlang node on a machine uses. The
second and third nodes join the first with ``rabbitmqctl join_cluster``; the vhost the services
use has quorum queues as its default queue type, so every durable queue a service declares is
replicated on the three nodes. ``kill(i)`` SIGKILLs a node, ``start_node(i)`` brings it back
with its data (it rejoins on its own). ``stop()`` stops and deletes every node and folder; it
also runs at exit and on SIGTERM/SIGINT/SIGHUP, so a failing run leaves nothing behind.

``python -m scripts.cluster`` starts a cluster, prints its AMQP_URI and waits for Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

RABBITMQ_BIN = "/usr/lib/rabbitmq/bin"
USER = "rabbitmq"
VHOST = "songwenhua"
LETTERS = "abcdefghij"


def say(message: str) -> None:
    print(f"[cluster] {message}", flush=True)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Node:
    def __init__(self, cluster: Cluster, index: int):
        self.cluster = cluster
        self.index = index
        letter = LETTERS[index]
        self.name = f"{cluster.prefix}-{letter}@localhost"
        self.amqp_port = cluster.base_port + index
        self.dist_port = 20000 + cluster.base_port + index
        self.management_port = 10000 + cluster.base_port + index
        self.dir = os.path.join(cluster.workdir, letter)
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    @property
    def amqp_uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{VHOST}"

    def env(self) -> dict:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": self.cluster.home,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_CONF_ENV_FILE": os.path.join(self.cluster.workdir, "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.dir, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(self.dir, "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.dir, "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "data"),
            "RABBITMQ_MNESIA_DIR": os.path.join(self.dir, "data", "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.dir, "log"),
            "RABBITMQ_LOGS": os.path.join(self.dir, "log", "node.log"),
            "RABBITMQ_PID_FILE": os.path.join(self.dir, "node.pid"),
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def write_files(self) -> None:
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "log"), exist_ok=True)
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write(
                "\n".join(
                    [
                        f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}",
                        f"management.tcp.port = {self.management_port}",
                        "management.tcp.ip = 127.0.0.1",
                        # a node cut off from the other two stops taking work rather than diverge
                        "cluster_partition_handling = pause_minority",
                        # quorum queues' leaders spread over the nodes, not all on the first
                        "queue_leader_locator = balanced",
                        "disk_free_limit.absolute = 200MB",
                        "vm_memory_high_watermark.relative = 0.2",
                        "log.console = false",
                        "log.file.level = warning",
                        "",
                    ]
                )
            )
        plugins = "[rabbitmq_management]." if self.cluster.management else "[]."
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write(plugins + "\n")

    def start(self) -> None:
        if not _port_free(self.amqp_port) or not _port_free(self.dist_port):
            raise SystemExit(f"port {self.amqp_port} or {self.dist_port} is taken: is another cluster running?")
        log = open(os.path.join(self.dir, "log", "console.log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(RABBITMQ_BIN, "rabbitmq-server")],
            env=self.env(),
            cwd=self.dir,
            user=USER,
            group=USER,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a process group of its own: SIGKILL reaches its helpers too
        )
        log.close()

    def ctl(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [os.path.join(RABBITMQ_BIN, "rabbitmqctl"), "-q", "-n", self.name, *args],
            env=self.env(),
            cwd=self.dir,
            user=USER,
            group=USER,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {self.name}: {result.stderr.strip() or result.stdout}")
        return result

    def quorum_critical(self) -> bool:
        """Whether stopping this node now would leave a quorum queue without its majority (a
        member elsewhere is still catching up); also true while the node cannot be asked."""
        result = subprocess.run(
            [
                os.path.join(RABBITMQ_BIN, "rabbitmq-diagnostics"),
                "-q",
                "-n",
                self.name,
                "check_if_node_is_quorum_critical",
            ],
            env=self.env(),
            cwd=self.dir,
            user=USER,
            group=USER,
            capture_output=True,
            timeout=60,
        )
        return result.returncode != 0

    def wait_amqp(self, timeout: float = 90) -> None:
        """Until the node takes AMQP connections (its listener opens once it has booted)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.dir}/log")
            try:
                with socket.create_connection(("127.0.0.1", self.amqp_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not open port {self.amqp_port} within {timeout:.0f}s")

    def kill(self) -> None:
        """SIGKILL the node and everything it started (its process group)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None
        self.kills += 1

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """Processor time (user + system) of the node's Erlang VM since it started."""
        if not self.running():
            return 0.0
        try:
            with open(os.path.join(self.dir, "node.pid")) as f:  # the VM's own pid, written as it boots
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            return 0.0


class Cluster:
    def __init__(self, size: int = 3, base_port: int = 5701, prefix: str = "songwenhua", management: bool = True):
        if base_port in range(5672 - size, 5673):
            raise ValueError("the cluster's ports must stay clear of the machine's broker on 5672")
        self.size = size
        self.base_port = base_port
        self.prefix = prefix
        self.management = management
        self.workdir = ""
        self.home = ""
        self.nodes: list[Node] = []
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def amqp_uri(self) -> str:
        """Every node's address, as kombu's failover list (``;`` between them)."""
        return ";".join(node.amqp_uri for node in self.nodes)

    def start(self) -> Cluster:
        started = time.time()
        pw = pwd.getpwnam(USER)
        self.workdir = tempfile.mkdtemp(prefix="songwenhua-cluster-")
        self.home = os.path.join(self.workdir, "home")
        os.makedirs(self.home)
        cookie = os.path.join(self.home, ".erlang.cookie")
        with open(cookie, "w") as f:
            f.write(secrets.token_hex(20).upper())
        os.chmod(cookie, 0o400)
        open(os.path.join(self.workdir, "rabbitmq-env.conf"), "w").close()
        self.nodes = [Node(self, i) for i in range(self.size)]
        _register(self)
        for node in self.nodes:
            node.write_files()
        for root, dirs, files in os.walk(self.workdir):
            for name in [*dirs, *files]:
                os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)
        os.chown(self.workdir, pw.pw_uid, pw.pw_gid)
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_amqp()
        first = self.nodes[0]

        def join(node: Node, errors: list) -> None:
            try:
                node.ctl("stop_app")
                node.ctl("join_cluster", first.name)
                node.ctl("start_app")
            except Exception as err:  # noqa: BLE001 - reported by the caller
                errors.append(err)

        errors: list = []
        joins = [threading.Thread(target=join, args=(node, errors)) for node in self.nodes[1:]]
        for t in joins:
            t.start()
        first.ctl("add_vhost", VHOST, "--default-queue-type", "quorum")
        first.ctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
        for t in joins:
            t.join()
        if errors:
            raise errors[0]
        for node in self.nodes:
            node.wait_amqp()
        say(
            f"{self.size} nodes up and clustered in {time.time() - started:.0f}s: "
            + ", ".join(f"{n.name} (amqp {n.amqp_port})" for n in self.nodes)
            + f"; data in {self.workdir}"
        )
        return self

    def members(self) -> list[str]:
        """The nodes the cluster's running members see running (asked of a running node)."""
        for node in self.nodes:
            if node.running():
                out = node.ctl("eval", "rabbit_nodes:all_running().", check=False).stdout
                return sorted(name for name in out.strip("[]\n ").replace("'", "").split(",") if name)
        return []

    def kill(self, index: int) -> None:
        with self._lock:
            self.nodes[index].kill()

    def start_node(self, index: int, wait: bool = True) -> None:
        with self._lock:
            node = self.nodes[index]
            node.start()
        if wait:
            node.wait_amqp()

    def cpu_seconds(self) -> dict[str, float]:
        return {node.name: node.cpu_seconds() for node in self.nodes}

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 15 s) and delete the run's folder."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            for node in self.nodes:
                if node.running():
                    try:
                        os.killpg(node.proc.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            deadline = time.time() + 15
            for node in self.nodes:
                if node.proc is None:
                    continue
                try:
                    node.proc.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    pass
                node.kill()
            if self.workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            _live.discard(self)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------- cleaning up on any exit

_live: set[Cluster] = set()
_handlers_installed = False


def _stop_all() -> None:
    for cluster in list(_live):
        cluster.stop()


def _on_signal(signum, frame):
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _register(cluster: Cluster) -> None:
    global _handlers_installed
    _live.add(cluster)
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                signal.signal(signum, _on_signal)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--base-port", type=int, default=5701)
    args = parser.parse_args(argv)
    cluster = Cluster(args.nodes, args.base_port)
    try:
        cluster.start()
        say(f"members: {', '.join(cluster.members())}")
        print(f"AMQP_URI={cluster.amqp_uri}", flush=True)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        say("stopped and deleted")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    raise SystemExit(main())
