"""feedback against the real broker and database."""

import eventlet
import pytest
from eventlet.semaphore import Semaphore
from nameko.standalone.rpc import ClusterRpcProxy

from common.errors import Conflict, Invalid, NotFound
from services.feedback.service import FeedbackService
from tests.helpers import BusSpy, publish_event, wait_until


def delivered(config, order_id="o1", completed_at="2026-12-05T16:00:00+08:00"):
    return publish_event(
        config,
        "dispatch",
        "delivery_completed",
        order_id=order_id,
        palace_id="p1",
        enterprise_id="e1",
        program_title="劳动者之歌",
        district="海宁",
        start="2026-12-05T14:00:00+08:00",
        end="2026-12-05T16:00:00+08:00",
        people_served=200,
        completed_at=completed_at,
        volunteers=[{"volunteer_id": "v1", "hours": 2.0}],
    )


def scheduled(config, order_id="o1", start="2026-12-05T14:00:00+08:00", end="2026-12-05T16:00:00+08:00"):
    return publish_event(
        config,
        "dispatch",
        "order_scheduled",
        order_id=order_id,
        palace_id="p1",
        program_title="劳动者之歌",
        troupe_id="t1",
        start=start,
        end=end,
        crew=[{"volunteer_id": "v1", "skill": "声乐"}],
    )


@pytest.fixture
def feedback(container_factory, service_config):
    container = container_factory(FeedbackService, service_config)
    container.start()
    spy = BusSpy(service_config)
    with ClusterRpcProxy(service_config) as rpc:
        yield rpc.feedback, spy
    spy.close()


def survey_of(rpc, order_id):
    def get():
        try:
            return rpc.get_survey_by_order(order_id)
        except NotFound:
            return None

    return wait_until(get, what="the survey")


def test_a_delivery_opens_exactly_one_survey_even_when_redelivered(feedback, service_config, mongo, db_prefix):
    rpc, spy = feedback
    event = delivered(service_config)
    publish_event(service_config, "dispatch", "delivery_completed", raw=event)
    survey = survey_of(rpc, "o1")
    assert survey["status"] == "open" and len(survey["token"]) == 32
    eventlet.sleep(1)
    assert mongo[f"{db_prefix}feedback"].surveys.count_documents({}) == 1
    assert len(spy.wait_for("feedback", "survey_opened")) == 1
    public = rpc.get_public_survey(survey["token"])
    assert public["program_title"] == "劳动者之歌" and "order_id" not in public


def test_a_scheduled_order_has_its_survey_which_opens_with_the_delivery(feedback, service_config, mongo, db_prefix):
    """The token exists from scheduling (the poster's QR code), answers are refused until the
    delivery is recorded; then the same survey opens, once, whatever is redelivered."""
    rpc, spy = feedback
    event = scheduled(service_config, start="2026-12-08T14:00:00+08:00", end="2026-12-08T16:00:00+08:00")
    publish_event(service_config, "dispatch", "order_scheduled", raw=event)
    survey = survey_of(rpc, "o1")
    assert survey["status"] == "scheduled" and len(survey["token"]) == 32 and survey["closes_at"] is None
    public = rpc.get_public_survey(survey["token"])
    assert public["status"] == "scheduled" and public["starts_at"].startswith("2026-12-08T06:00:00")
    assert public["program_title"] == "劳动者之歌" and public["closes_at"] is None
    assert rpc.intake_surveys([survey["token"]])[survey["token"]]["status"] == "scheduled"
    with pytest.raises(Conflict) as err:
        rpc.submit_response(survey["token"], {"overall": 5})
    assert err.value.code == "SURVEY_NOT_OPEN"
    # scheduled again at another time: the survey says the new start
    scheduled(service_config, start="2026-12-09T09:00:00+08:00", end="2026-12-09T11:00:00+08:00")
    wait_until(
        lambda: rpc.get_public_survey(survey["token"])["starts_at"].startswith("2026-12-09T01:00:00"),
        what="the new start",
    )
    completed = delivered(service_config, completed_at="2099-01-01T00:00:00+08:00")
    publish_event(service_config, "dispatch", "delivery_completed", raw=completed)
    opened = wait_until(lambda: (s := rpc.get_survey_by_order("o1"))["status"] == "open" and s, what="the survey open")
    assert opened["token"] == survey["token"] and opened["survey_id"] == survey["survey_id"]
    assert opened["closes_at"].startswith("2099-01-04")  # completed_at + SURVEY_HOURS (72)
    assert rpc.submit_response(survey["token"], {"overall": 4})["survey_id"] == survey["survey_id"]
    scheduled(service_config)  # late: changes nothing once open
    eventlet.sleep(1)
    assert rpc.get_survey_by_order("o1")["status"] == "open"
    assert mongo[f"{db_prefix}feedback"].surveys.count_documents({}) == 1
    assert len(spy.wait_for("feedback", "survey_opened")) == 1
    eventlet.sleep(0.5)
    assert spy.types().count("feedback.survey_opened") == 1


def test_a_cancelled_order_s_prepared_survey_says_so_and_takes_no_answers(feedback, service_config):
    rpc, _ = feedback
    survey = survey_of(rpc, scheduled(service_config)["order_id"])
    assert survey["status"] == "scheduled"
    publish_event(
        service_config,
        "orders",
        "order_cancelled",
        order_id="o1",
        palace_id="p1",
        enterprise_id="e1",
        previous_status="scheduled",
        reason="厂里临时停电",
    )
    wait_until(lambda: rpc.get_public_survey(survey["token"])["status"] == "cancelled", what="the survey cancelled")
    with pytest.raises(Conflict) as err:
        rpc.submit_response(survey["token"], {"overall": 5})
    assert err.value.code == "SURVEY_CANCELLED"


def test_a_delivery_before_its_scheduling_event_opens_the_survey_directly(feedback, service_config, mongo, db_prefix):
    rpc, spy = feedback
    delivered(service_config, completed_at="2099-01-01T00:00:00+08:00")
    survey = survey_of(rpc, "o1")
    assert survey["status"] == "open"
    scheduled(service_config)
    eventlet.sleep(1)
    again = rpc.get_survey_by_order("o1")
    assert again["status"] == "open" and again["token"] == survey["token"]
    assert mongo[f"{db_prefix}feedback"].surveys.count_documents({}) == 1
    assert len(spy.wait_for("feedback", "survey_opened")) == 1


def test_concurrent_responses_are_all_counted_once_and_summarised_on_close(feedback, service_config, mongo, db_prefix):
    rpc, spy = feedback
    delivered(service_config, completed_at="2099-01-01T00:00:00+08:00")
    token = survey_of(rpc, "o1")["token"]

    def answer(i):
        with ClusterRpcProxy(service_config) as own:
            return own.feedback.submit_response(
                token,
                {
                    "overall": 5 if i % 2 else 4,
                    "performers": 5,
                    "wanted_programs": ["八段锦"],
                    "client_ref": f"phone-{i}",
                },
            )

    pool = eventlet.GreenPool(20)
    results = list(pool.imap(answer, range(40)))
    assert len({r["response_id"] for r in results}) == 40
    assert (
        rpc.submit_response(token, {"overall": 4, "client_ref": "phone-3"})["response_id"] == results[3]["response_id"]
    )
    closed = rpc.close_survey(results[0]["survey_id"])
    assert closed["responses"] == 40 and closed["satisfaction"] == 4.5
    assert closed["wanted_programs"] == [{"program": "八段锦", "count": 40}]
    assert rpc.close_survey(results[0]["survey_id"])["status"] == "closed"
    (event,) = spy.wait_for("feedback", "survey_closed")
    assert event["responses"] == 40 and event["aspects"]["performers"] == 5.0
    assert len(spy.wait_for("feedback", "response_received", count=40)) == 40
    eventlet.sleep(0.5)
    assert [t for t in spy.types() if t == "feedback.survey_closed"] == ["feedback.survey_closed"]
    with pytest.raises(Conflict):
        rpc.submit_response(token, {"overall": 5})
    assert mongo[f"{db_prefix}feedback"].responses.count_documents({}) == 40


def test_bad_responses_are_refused_with_chinese_messages_and_nothing_stored(feedback, service_config, mongo, db_prefix):
    rpc, _ = feedback
    delivered(service_config, completed_at="2099-01-01T00:00:00+08:00")
    token = survey_of(rpc, "o1")["token"]
    with pytest.raises(Invalid) as err:
        rpc.submit_response(token, {"overall": 6, "comment": {"$gt": ""}, "extra": 1})
    assert set(err.value.fields) == {"overall", "comment", "extra"}
    assert "1 到 5" in err.value.fields["overall"][0]
    with pytest.raises(Invalid):
        rpc.submit_response(token, {"overall": 3, "comment": "好" * 501})
    with pytest.raises(NotFound):
        rpc.submit_response("not-a-token", {"overall": 5})
    with pytest.raises(NotFound):
        rpc.get_public_survey({"$gt": ""})
    assert mongo[f"{db_prefix}feedback"].responses.count_documents({}) == 0


def test_a_survey_past_its_window_is_closed_by_the_timer(feedback, service_config):
    rpc, spy = feedback
    delivered(service_config, completed_at="2020-01-01T10:00:00+08:00")
    survey_of(rpc, "o1")
    (event,) = spy.wait_for("feedback", "survey_closed", timeout=30)
    assert event["responses"] == 0 and event["satisfaction"] is None


def test_bad_events_are_dead_lettered_with_the_reason_and_feedback_keeps_serving(feedback, service_config):
    from tests.helpers import assert_bad_events_are_dead_lettered

    rpc, _ = feedback
    assert_bad_events_are_dead_lettered(service_config, "dispatch", "delivery_completed")
    delivered(service_config, order_id="after")
    assert survey_of(rpc, "after")["status"] == "open"


def test_answers_through_the_intake_queue_are_stored_once_in_batches_and_counted_before_the_summary(
    feedback, service_config, mongo, db_prefix
):
    """The public form's path: the gateway's intake publishes the answers (confirmed, those
    arriving together in one message) and the feedback service stores them in batches. A
    resubmission (same phone) is stored once, a malformed answer is parked with its reason (alone
    or in a group), and answers accepted just before the close are all in the summary."""
    from contracts import intake as contract
    from services.gateway.intake import _Intake
    from tests.helpers import dead_letters

    rpc, spy = feedback
    delivered(service_config, completed_at="2099-01-01T00:00:00+08:00")
    survey = survey_of(rpc, "o1")
    gateway = _Intake(service_config["AMQP_URI"], ttl=1)
    fetches = []
    one_at_a_time = Semaphore(1)  # this test's standalone proxy serves one green thread at a time

    def fetch(tokens):
        fetches.append(tokens)
        with one_at_a_time:
            return rpc.intake_surveys(tokens)

    answers = [
        {"overall": 5 if i % 4 else 3, "content": 4, "client_ref": f"phone-{i}", "wanted_programs": []}
        for i in range(300)
    ]
    groups = []
    send = gateway.outgoing._send
    gateway.outgoing._send = lambda items: (groups.append(len(items)), send(items))[1]
    pool = eventlet.GreenPool(30)
    receipts = list(pool.imap(lambda a: gateway.accept(survey["token"], a, fetch), answers))
    again = gateway.accept(survey["token"], answers[7], fetch)  # the same phone, a bad network
    assert sum(groups) == 301 and len(groups) <= 150  # answers arriving together leave together
    assert again["response_id"] == receipts[7]["response_id"] and again["status"] == "received"
    assert len(fetches) <= 3  # the survey is looked up once a second, not once per answer
    with kombu_producer(service_config) as publish:
        publish({"version": 1, "response_id": "x1", "survey_id": survey["survey_id"], "answer": "not an answer"})
        publish([{"version": 1, "response_id": "x2", "survey_id": survey["survey_id"]}])

    closed = rpc.close_survey(survey["survey_id"])  # at once: some answers may still be queued
    assert closed["status"] == "closed"
    gateway.forget(survey["token"])  # as the gateway does when it closes a survey
    with pytest.raises(Conflict):
        gateway.accept(survey["token"], {"overall": 5}, fetch)
    (event,) = spy.wait_for("feedback", "survey_closed", timeout=30)
    expected = sum(a["overall"] for a in answers) / 300
    assert event["responses"] == 300 and event["satisfaction"] == round(expected, 2)
    db = mongo[f"{db_prefix}feedback"]
    assert db.responses.count_documents({}) == 300
    assert len(spy.wait_for("feedback", "response_received", count=300)) == 300
    parked = wait_until(
        lambda: (found := dead_letters(service_config)) and len(found) == 2 and found, what="both parked"
    )
    assert {body["response_id"] for _, body in parked} == {"x1", "x2"}
    assert all("contract" in head["reason"] and head["consumer"] == "feedback.take_responses" for head, _ in parked)
    assert contract.QUEUE.name == "feedback.intake.responses"


class kombu_producer:
    """Publish straight onto the intake queue (what a faulty gateway might send)."""

    def __init__(self, config):
        from kombu import Connection

        self.conn = Connection(config["AMQP_URI"])

    def __enter__(self):
        from contracts import intake as contract

        producer = self.conn.Producer()
        return lambda body: producer.publish(
            body,
            exchange=contract.EXCHANGE,
            routing_key=contract.ROUTING_KEY,
            serializer="json",
            declare=[contract.EXCHANGE, contract.QUEUE],
        )

    def __exit__(self, *exc):
        self.conn.release()


def test_the_gateway_looks_up_every_open_survey_again_in_one_call_and_forgets_an_unknown_one(feedback, service_config):
    from services.gateway.intake import _Intake

    rpc, _ = feedback
    for order_id in ("a", "b", "c"):
        delivered(service_config, order_id=order_id, completed_at="2099-01-01T00:00:00+08:00")
    tokens = [survey_of(rpc, order_id)["token"] for order_id in ("a", "b", "c")]
    gateway = _Intake(service_config["AMQP_URI"], ttl=0.3)
    calls = []
    one_at_a_time = Semaphore(1)  # this test's standalone proxy serves one green thread at a time

    def fetch(asked):
        calls.append(sorted(asked))
        with one_at_a_time:
            return rpc.intake_surveys(asked)

    for token in tokens:
        assert gateway.accept(token, {"overall": 4}, fetch)["status"] == "received"
    assert calls == [[t] for t in tokens]  # the first answer to each looks it up in the foreground
    eventlet.sleep(0.4)  # stale now, still usable: the answers go on while one call refreshes all
    for token in tokens:
        assert gateway.accept(token, {"overall": 5}, fetch)["status"] == "received"
    wait_until(lambda: len(calls) >= 4 and not gateway.refreshing, what="the refresh")
    assert len(calls) == 4, calls
    assert calls[3] == sorted(tokens)
    with pytest.raises(NotFound):
        gateway.accept("no-such-token", {"overall": 5}, fetch)
    with pytest.raises(Exception, match="1000"):
        rpc.intake_surveys(["t"] * 1001)
