"""The contracts: every event has a schema and version, inputs get Chinese messages,
and the checked-in AsyncAPI document is what the schemas generate."""

import datetime as dt

import pytest
from marshmallow import ValidationError

from contracts import asyncapi, payloads
from contracts.events import EVENTS, UnknownEvent, dump_event, load_event

FLOW = (
    {("orders", t) for t in ("order_placed", "order_amended", "order_cancelled", "order_accepted", "order_rejected")}
    | {
        ("dispatch", t)
        for t in (
            "offer_made",
            "offer_accepted",
            "offer_declined",
            "offer_expired",
            "order_scheduled",
            "order_unfulfillable",
            "delivery_completed",
        )
    }
    | {("feedback", t) for t in ("survey_opened", "response_received", "survey_closed")}
)


def test_every_event_of_the_flow_has_a_contract_with_a_version_and_description():
    assert FLOW <= set(EVENTS)
    for spec in EVENTS.values():
        assert spec.version >= 1 and spec.description
        assert {"event_id", "occurred_at", "version"} <= set(spec.schema().fields)


def test_the_checked_in_asyncapi_document_is_up_to_date():
    with open(asyncapi.PATH, encoding="utf-8") as f:
        assert f.read() == asyncapi.render(), "contracts/asyncapi.json is stale: run `make asyncapi`"


def test_asyncapi_lists_a_channel_and_payload_schema_for_every_event():
    doc = asyncapi.build()
    assert doc["asyncapi"] == "2.6.0"
    for source, event_type in EVENTS:
        channel = doc["channels"][f"{source}.events/{event_type}"]
        ref = channel["subscribe"]["message"]["$ref"].rsplit("/", 1)[1]
        payload = doc["components"]["messages"][ref]["payload"]["$ref"].rsplit("/", 1)[1]
        assert "event_id" in doc["components"]["schemas"][payload]["properties"]


def test_an_event_round_trips_and_consumers_ignore_unknown_fields():
    now = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.timezone.utc)
    out = dump_event(
        "orders",
        "order_rejected",
        {
            "event_id": "e1",
            "occurred_at": now,
            "order_id": "o1",
            "palace_id": "p1",
            "enterprise_id": "ent1",
            "reason": "档期已满",
        },
    )
    assert out["version"] == 1
    loaded = load_event("orders", "order_rejected", {**out, "added_later": 1})
    assert loaded["occurred_at"] == now and "added_later" not in loaded


def test_an_outgoing_event_that_breaks_its_contract_is_refused():
    with pytest.raises(ValueError):
        dump_event("orders", "order_rejected", {"event_id": "e1", "occurred_at": dt.datetime.now(dt.timezone.utc)})


def test_an_event_of_an_unknown_version_or_type_is_refused():
    with pytest.raises(UnknownEvent):
        load_event("orders", "order_rejected", {"version": 7})
    with pytest.raises(UnknownEvent):
        load_event("orders", "order_exploded", {"version": 1})


def test_bad_order_input_gets_chinese_messages_for_each_field():
    with pytest.raises(ValidationError) as err:
        payloads.PlaceOrder().load(
            {
                "enterprise_id": "e1",
                "palace_id": "p1",
                "site_address": "x" * 5000,
                "district": {"$gt": ""},
                "audience_size": -1,
                "windows": [{"start": "明天", "end": "2026-12-01T10:00:00+08:00"}],
                "contact_name": "王",
                "contact_phone": "abc",
                "hacker": 1,
            }
        )
    messages = err.value.messages
    assert messages["site_address"] == ["服务地点最多 200 字，现在是 5000 字。"]  # the limit and the length, never cut
    assert "文本" in messages["district"][0]
    assert "整数" in messages["audience_size"][0]
    assert "ISO 8601" in messages["windows"][0]["start"][0]
    assert "电话" in messages["contact_phone"][0]
    assert messages["hacker"] == ["不认识的字段。"]


def test_a_window_must_end_after_it_starts_and_naive_times_are_china_time():
    with pytest.raises(ValidationError) as err:
        payloads.TimeWindowSchema().load({"start": "2026-12-01T10:00:00", "end": "2026-12-01T09:00:00"})
    assert "晚于" in err.value.messages["end"][0]
    window = payloads.TimeWindowSchema().load({"start": "2026-12-01T10:00:00", "end": "2026-12-01T12:00:00"})
    assert window["start"].utcoffset() == dt.timedelta(hours=8)


def test_an_order_needs_a_program_or_a_custom_request():
    with pytest.raises(ValidationError) as err:
        payloads.PlaceOrder().load(
            {
                "enterprise_id": "e1",
                "palace_id": "p1",
                "site_address": "车间",
                "district": "海宁",
                "audience_size": 10,
                "windows": [{"start": "2026-12-01T10:00:00+08:00", "end": "2026-12-01T12:00:00+08:00"}],
                "contact_name": "王芳",
                "contact_phone": "13800000000",
            }
        )
    assert "program_id" in err.value.messages
