"""The fault suite on a three-node RabbitMQ cluster of its own, in its short form: a few orders
through the whole flow while one broker node is SIGKILLed and started again and a service
process is killed; nothing lost, doubled, double-booked or dead-lettered. The machine's own
broker is not touched."""

import os
import pwd
import time

import pytest

from scripts import chaos_cluster

pytestmark = pytest.mark.e2e


def _can_start_nodes() -> bool:
    try:
        pwd.getpwnam("rabbitmq")
    except KeyError:
        return False
    return os.geteuid() == 0 and os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server")


@pytest.mark.skipif(not _can_start_nodes(), reason="needs root and Debian's rabbitmq-server to start the nodes")
def test_orders_survive_a_broker_node_killed_mid_stream(capsys):
    started = time.monotonic()
    code = chaos_cluster.main(
        [
            "--orders",
            "3",
            "--node-kills",
            "1",
            "--process-kills",
            "1",
            "--processes",
            "1",
            "--down",
            "3",
            "--kill-every",
            "1.5",
            "--seed",
            "3",
            "--base-port",
            "5711",
        ]
    )
    out = capsys.readouterr().out
    summary = next(line for line in out.splitlines() if line.startswith("orders="))
    figures = dict(pair.split("=") for pair in summary.split())
    assert figures["lost"] == figures["duplicated"] == figures["double_booked"] == figures["dead_lettered"] == "0", out
    assert "SIGKILL broker node" in out and "flow paused" in out
    assert code == 0, out
    slowest = float(out.split("slowest answer ")[1].split("s;")[0])
    assert slowest < 20, out  # a call in flight at the node's loss is answered (at worst 503 after 15 s)
    assert time.monotonic() - started < 150, out  # about 80 s: 22 s of them the nodes starting and joining
