"""The erasure job against the real database: it goes through every collection, leaves ids and
numbers, never overwrites a change made while it runs, is finished by the next run when stopped
half-way, and forgets what it looked for once done."""

import pytest

from common import erasure
from common.personal import ERASED

EVENT = {
    "erasure_id": "e-1",
    "pseudonym": "已注销用户-e1",
    "username": "xiaolan",
    "texts": ["欧阳晓岚", "13911112222", "ZJHN-1"],
}


class UnitOfWork:
    def __init__(self, db):
        self.db, self.session = db, None


@pytest.fixture
def db(mongo, db_prefix):
    return mongo[f"{db_prefix}erasure"]


def test_every_collection_is_anonymised_and_what_counts_stays(db):
    db.people.insert_one({"_id": "v1", "name": "欧阳晓岚", "phone": "13911112222", "card": "ZJHN-1", "hours": 6.5})
    db.events.insert_many(
        [
            {"_id": f"e{i}", "payload": {"volunteer_id": "v1", "by": "xiaolan", "note": f"欧阳晓岚第 {i} 次"}, "n": i}
            for i in range(1200)  # more than one batch
        ]
    )
    db.others.insert_one({"_id": "x", "name": "司马青松", "by": "simaqs"})
    db.inbox.insert_one({"_id": "欧阳晓岚"})  # what an erasure never rewrites
    erasure.remember(UnitOfWork(db), EVENT)
    erasure.remember(UnitOfWork(db), EVENT)  # the same event again: one job
    assert erasure.pending(db) == 1

    (done,) = erasure.run(db)

    assert done["changed"] == {"events": 1200, "people": 1}
    assert db.people.find_one() == {"_id": "v1", "name": ERASED, "phone": ERASED, "card": ERASED, "hours": 6.5}
    sample = db.events.find_one({"_id": "e7"})
    assert sample == {
        "_id": "e7",
        "payload": {"volunteer_id": "v1", "by": "已注销用户-e1", "note": f"{ERASED}第 7 次"},
        "n": 7,
    }
    assert db.others.find_one() == {"_id": "x", "name": "司马青松", "by": "simaqs"}
    job = db.erasure_jobs.find_one()
    assert job["texts"] == [] and job["usernames"] == [] and job["done_at"] is not None
    assert erasure.pending(db) == 0 and erasure.run(db) == []


def test_a_document_changed_while_the_job_runs_keeps_the_change(db):
    db.plans.insert_one({"_id": "p1", "crew": ["欧阳晓岚"], "status": "scheduled", "note": "13911112222"})
    real = erasure.replace

    def meanwhile(value, texts, usernames, key=None):
        if key == "crew":  # a transaction writes the plan between the job's read and its write
            db.plans.update_one({"_id": "p1"}, {"$set": {"crew": ["欧阳晓岚", "司马青松"], "status": "delivered"}})
            erasure.replace = real
        return real(value, texts, usernames, key)

    erasure.replace = meanwhile
    try:
        erasure.scrub_collection(db.plans, erasure.job(EVENT)["texts"], {"xiaolan": "已注销用户-e1"})
    finally:
        erasure.replace = real
    assert db.plans.find_one() == {"_id": "p1", "crew": [ERASED, "司马青松"], "status": "delivered", "note": ERASED}


def test_a_job_stopped_half_way_is_finished_by_the_next_run(db):
    db.a.insert_one({"_id": 1, "name": "欧阳晓岚"})
    erasure.remember(UnitOfWork(db), EVENT)
    erasure.scrub_collection(db.a, erasure.job(EVENT)["texts"], {})  # stopped before it was marked done
    db.b.insert_one({"_id": 2, "phone": "13911112222"})
    (done,) = erasure.run(db)
    assert done["changed"] == {"b": 1}
    assert db.a.find_one()["name"] == ERASED and db.b.find_one()["phone"] == ERASED
