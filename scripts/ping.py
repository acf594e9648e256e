"""Health check of one service over RPC (exit 0 when it answers): `python -m scripts.ping orders`."""

from __future__ import annotations

import os
import sys

from nameko.standalone.rpc import ClusterRpcProxy


def main() -> None:
    name = sys.argv[1]
    config = {"AMQP_URI": os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")}
    with ClusterRpcProxy(config, timeout=5) as rpc:
        answer = getattr(rpc, name).ping()
    if answer != "ok":
        raise SystemExit(f"{name}: {answer}")


if __name__ == "__main__":
    main()
