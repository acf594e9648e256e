"""RPC entrypoints whose domain errors travel to the caller as themselves."""

from __future__ import annotations

from nameko.rpc import rpc as nameko_rpc

from common.errors import ServiceError


def rpc(fn):
    """An RPC method whose ServiceErrors are expected (no error log, sent to the caller)."""
    return nameko_rpc(expected_exceptions=ServiceError)(fn)
