"""schemathesis against /openapi.json on the running system: no input, however malformed or
hostile, gets a server error. Bounded in examples so that it stays a few seconds per operation."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from nameko.standalone.rpc import ClusterRpcProxy

from services.gateway.openapi import build

pytestmark = pytest.mark.e2e
schema = schemathesis.openapi.from_dict(build())


@pytest.fixture(scope="module")
def api(module_system):
    base, config = module_system
    with ClusterRpcProxy(config, timeout=30) as rpc:
        rpc.dispatch.upsert_palace({"palace_id": "haining", "name": "海宁市工人文化宫", "district": "海宁"})
        rpc.dispatch.upsert_program(
            {
                "program_id": "song",
                "palace_id": "haining",
                "title": "劳动者之歌",
                "kind": "performance",
                "duration_minutes": 120,
                "needs": [{"skill": "声乐", "count": 1}],
            }
        )
        rpc.orders.register_enterprise(
            {"enterprise_id": "jingbian", "palace_id": "haining", "name": "海宁经编产业园联合工会", "district": "海宁"}
        )
        rpc.accounts.create_user({"username": "fuzz-admin", "password": "fuzz-password", "role": "admin"})
    import requests

    token = requests.post(f"{base}/api/login", json={"username": "fuzz-admin", "password": "fuzz-password"}).json()
    return base, {"Authorization": f"Bearer {token['token']}"}


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "12")),
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(case, api):
    base, auth = api
    # signed in as an admin, so that requests get past the door and reach the services
    response = case.call(base_url=base, headers=auth, timeout=30)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:300]}"
    )
    headers = {k.lower(): v for k, v in response.headers.items()}
    content_type = headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    files = ("image/svg+xml", "text/calendar", "text/plain", "application/pdf", "application/vnd.openxmlformats")
    assert content_type.startswith(("application/json", "text/html", *files)), (
        f"{case.method} {case.formatted_path} → {response.status_code} {content_type!r}: {response.text[:200]}"
    )
