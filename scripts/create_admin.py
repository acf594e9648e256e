"""Create the first palace admin (`make admin`, or ADMIN_USERNAME and ADMIN_PASSWORD set), with the system running."""

from __future__ import annotations

import getpass
import os
import sys

from nameko.standalone.rpc import ClusterRpcProxy

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.config import setting  # noqa: E402
from common.errors import ServiceError  # noqa: E402


def main() -> int:
    username = os.environ.get("ADMIN_USERNAME") or input("用户名: ").strip()
    password = os.environ.get("ADMIN_PASSWORD") or getpass.getpass("密码（至少 10 位，不用常见密码）: ")
    config = {"AMQP_URI": setting(None, "AMQP_URI")}
    with ClusterRpcProxy(config, timeout=30) as rpc:
        try:
            user = rpc.accounts.create_user(
                {"username": username, "password": password, "role": "admin", "display_name": "管理员"}
            )
        except ServiceError as err:
            print(f"没有创建：{err.message} {err.fields or ''}")
            return 1
    print(f"已创建管理员 {user['username']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
