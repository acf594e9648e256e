"""The dispatch service in a container against the real broker and database, with a small
palace: one program (a singer and a player), three singers, two players, one troupe."""

import datetime as dt

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.dispatch.service import DispatchService
from tests.helpers import BusSpy, publish_event

CST = dt.timezone(dt.timedelta(hours=8))
DAY = dt.datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=3)


def iso(hour):
    return (DAY + dt.timedelta(hours=hour)).isoformat()


FREE = [{"start": iso(8), "end": iso(21)}]


@pytest.fixture
def day_clock():
    """The tests play a delivery's day days ahead: the times they record stand for the clock
    (DAY_CLOCK=recorded). A test parametrizes it "real" to see the clock itself decide."""
    return "recorded"


@pytest.fixture
def dispatch(container_factory, service_config, day_clock):
    container = container_factory(DispatchService, {**service_config, "DAY_CLOCK": day_clock})
    container.start()
    spy = BusSpy(service_config)
    with ClusterRpcProxy(service_config) as rpc:
        d = rpc.dispatch
        d.upsert_palace({"palace_id": "haining", "name": "海宁市工人文化宫", "district": "海宁"})
        d.upsert_program(
            {
                "program_id": "song",
                "palace_id": "haining",
                "title": "劳动者之歌",
                "kind": "performance",
                "duration_minutes": 120,
                "needs": [{"skill": "声乐", "count": 1}, {"skill": "器乐", "count": 1}],
            }
        )
        people = [("s1", "声乐"), ("s2", "声乐"), ("s3", "声乐"), ("p1", "器乐"), ("p2", "器乐")]
        for vid, skill in people:
            d.upsert_volunteer(
                {
                    "volunteer_id": vid,
                    "palace_id": "haining",
                    "name": f"志愿者{vid}",
                    "phone": "13900000000",
                    "skills": [skill],
                    "district": "海宁",
                    "troupe_ids": ["art"],
                    "availability": FREE,
                }
            )
        d.upsert_troupe(
            {
                "troupe_id": "art",
                "palace_id": "haining",
                "name": "职工艺术团",
                "district": "海宁",
                "members": ["s1", "p1"],
                "repertoire": ["song"],
            }
        )
        yield d, spy
    spy.close()


def accepted(config, order_id, start=14, end=18, **over):
    fields = dict(
        order_id=order_id,
        palace_id="haining",
        enterprise_id="jingbian",
        program_id="song",
        program_title="劳动者之歌",
        site_address="3 号厂房",
        district="海宁",
        audience_size=200,
        windows=[{"start": iso(start), "end": iso(end)}],
    )
    return publish_event(config, "orders", "order_accepted", **{**fields, **over})


def offers_of(d, order_id, status="pending"):
    try:
        return [o for o in d.get_plan(order_id)["offers"] if o["status"] == status]
    except Exception:
        return []
