"""Small helpers for starting real servers in tests."""

import os
import socket
import time

from pymongo import MongoClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_mongo(uri: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            MongoClient(uri, serverSelectionTimeoutMS=500).admin.command("ping")
            return
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
