"""Health check of one service over RPC (exit 0 when it answers): `python -m scripts.ping orders`."""

from __future__ import annotations

import sys

from nameko.standalone.rpc import ClusterRpcProxy

from common.config import setting


def main() -> None:
    name = sys.argv[1]
    config = {"AMQP_URI": setting(None, "AMQP_URI")}
    with ClusterRpcProxy(config, timeout=5) as rpc:
        answer = getattr(rpc, name).ping()
    if answer != "ok":
        raise SystemExit(f"{name}: {answer}")


if __name__ == "__main__":
    main()
