"""Two feedback processes share the answer shards: each survey's answers go to the queue of its
shard, each process takes its half at once and stands by for the other half, and when one stops
the other takes its shards over, so no answer waits for a process that is gone."""

from __future__ import annotations

import eventlet
from eventlet.semaphore import Semaphore
from nameko.standalone.rpc import ClusterRpcProxy

from common.consuming import STANDBY_AFTER
from contracts import intake
from services.feedback.service import FeedbackService
from services.gateway.intake import _Intake
from tests.helpers import wait_until
from tests.integration.test_feedback_service import delivered, survey_of


def _consumers(rabbit_manager, vhost) -> dict[str, tuple[int, int]]:
    """Each shard queue's (active, waiting) consumers, as the broker's management API lists them
    (a single-active-consumer queue's declare counts only the active one)."""
    found = {}
    for queue in intake.SHARD_QUEUES:
        details = rabbit_manager.get_queue(vhost, queue.name).get("consumer_details") or []
        seen = {(d["channel_details"]["name"], d["consumer_tag"]): d["active"] for d in details}
        found[queue.name] = (sum(seen.values()), len(seen) - sum(seen.values()))
    return found


def _stored(mongo, db_prefix, survey_id) -> int:
    return mongo[f"{db_prefix}feedback"].responses.count_documents({"survey_id": survey_id})


def test_two_processes_split_the_answer_shards_and_one_takes_over_when_the_other_stops(
    container_factory, service_config, mongo, db_prefix, rabbit_manager, rabbit_config
):
    vhost = rabbit_config["vhost"]
    first = container_factory(FeedbackService, {**service_config, "PROCESSES": "2", "PROCESS_INDEX": "0"})
    second = container_factory(FeedbackService, {**service_config, "PROCESSES": "2", "PROCESS_INDEX": "1"})
    first.start()
    second.start()
    with ClusterRpcProxy(service_config) as proxy:
        rpc = proxy.feedback
        # surveys until both processes' shards have one (a survey's id, so its shard, is random)
        surveys = {}
        for n in range(40):
            delivered(service_config, order_id=f"o{n}", completed_at="2099-01-01T00:00:00+08:00")
            survey = survey_of(rpc, f"o{n}")
            surveys.setdefault(int(intake.shard_key(survey["survey_id"])) % 2, []).append(survey)
            if len(surveys) == 2 and n >= 3:
                break
        assert set(surveys) == {0, 1}
        # each shard queue: one process takes it, the other stands by behind it
        wait_until(
            lambda: set(_consumers(rabbit_manager, vhost).values()) == {(1, 1)},
            timeout=STANDBY_AFTER + 15,
            what="one process taking each shard and the other standing by",
        )

        one_at_a_time = Semaphore(1)

        def fetch(tokens):
            with one_at_a_time:
                return rpc.intake_surveys(tokens)

        gateway = _Intake(service_config["AMQP_URI"], ttl=1.0)
        everyone = [s for group in surveys.values() for s in group]
        pool = eventlet.GreenPool(20)
        answers = [(s, i) for s in everyone for i in range(15)]
        list(
            pool.imap(lambda a: gateway.accept(a[0]["token"], {"overall": 4, "client_ref": f"p{a[1]}"}, fetch), answers)
        )
        for survey in everyone:
            wait_until(lambda s=survey: _stored(mongo, db_prefix, s["survey_id"]) == 15, what="every answer stored")
            assert rpc.get_survey_by_order(survey["order_id"])["responses"] == 15

        # the process of the even shards stops: the other takes them over
        first.stop()
        wait_until(lambda: set(_consumers(rabbit_manager, vhost).values()) == {(1, 0)}, what="the other on every shard")
        for survey in everyone:
            for i in range(15, 20):
                gateway.accept(survey["token"], {"overall": 5, "client_ref": f"p{i}"}, fetch)
        for survey in everyone:
            wait_until(lambda s=survey: _stored(mongo, db_prefix, s["survey_id"]) == 20, what="answers after the stop")
            summary = rpc.get_survey_by_order(survey["order_id"])
            assert summary["responses"] == 20 and summary["satisfaction"] == round((15 * 4 + 5 * 5) / 20, 2)
        gateway.connection.release()
