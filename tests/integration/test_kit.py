"""The common kit against the real broker and database: the outbox publishes what was
committed and nothing else, survives a crash before publishing, consumers do nothing twice,
and pymongo under eventlet rides through a database restart with hundreds of greenthreads."""

import os
import shutil
import signal
import subprocess
import tempfile

import eventlet
import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from common.consuming import consumes
from common.store import MongoStore, Store
from scripts.run import embedded_mongo_command, embedded_mongo_uri
from tests.helpers import BusSpy, publish_event, wait_until
from tests.servers import free_port, wait_for_mongo


class Probe:
    """A tiny service that writes orders' events and consumes dispatch's."""

    name = "orders"
    store = MongoStore("kit")
    fixed = False

    @consumes("dispatch", "order_unfulfillable")
    def handle_unfulfillable(self, event, uow):
        uow.db.seen.update_one({"_id": event["order_id"]}, {"$inc": {"n": 1}}, upsert=True, session=uow.session)
        if event["code"] == "BOOM" and not Probe.fixed:
            raise RuntimeError("handler bug")


def rejected(order_id):
    return dict(order_id=order_id, palace_id="p1", enterprise_id="e1", reason="满了")


@pytest.fixture
def probe(container_factory, service_config):
    container = container_factory(Probe, service_config)
    container.start()
    spy = BusSpy(service_config)
    store = next(d for d in container.dependencies if isinstance(d, MongoStore)).store
    yield store, spy, container
    spy.close()


def test_committed_events_are_published_and_rolled_back_ones_are_not(probe):
    store, spy, _ = probe
    store.transaction(lambda uow: uow.emit("order_rejected", **rejected("kept")))

    def fails(uow):
        uow.emit("order_rejected", **rejected("lost"))
        uow.db.things.insert_one({"x": 1}, session=uow.session)
        raise ValueError("business rule broke after the write")

    with pytest.raises(ValueError):
        store.transaction(fails)
    spy.wait_for("orders", "order_rejected")
    eventlet.sleep(1)
    ids = [p["order_id"] for s, t, p in spy.drain() if t == "order_rejected"]
    assert ids == ["kept"]
    assert store.db.things.count_documents({}) == 0


def test_events_left_in_the_outbox_by_a_crashed_process_are_published_by_the_next(service_config, container_factory):
    from pymongo import MongoClient as Client

    spy = BusSpy(service_config)
    # a process wrote its state change and outbox, then died before its relay ran
    client = Client(service_config["MONGO_URI"], tz_aware=True)
    crashed = Store(client, f"{service_config['DB_PREFIX']}kit", "orders", service_config["AMQP_URI"], service_config)
    crashed.ensure_outbox_indexes()
    for i in range(5):
        crashed.transaction(lambda uow, i=i: uow.emit("order_rejected", **rejected(f"o{i}")))
    assert crashed.db.outbox.count_documents({"published": False}) == 5

    container = container_factory(Probe, service_config)
    container.start()
    found = spy.wait_for("orders", "order_rejected", count=5)
    assert [p["order_id"] for p in found] == [f"o{i}" for i in range(5)]  # in commit order
    wait_until(lambda: crashed.db.outbox.count_documents({}) == 0)  # published ones leave the outbox
    spy.close()
    client.close()


def test_what_follows_a_commit_runs_only_after_it_and_never_after_a_rollback(service_config):
    client = MongoClient(service_config["MONGO_URI"], tz_aware=True)
    store = Store(client, f"{service_config['DB_PREFIX']}after", "orders", service_config["AMQP_URI"], service_config)
    seen = []

    def commit(uow):
        uow.db.things.insert_one({"_id": "a"}, session=uow.session)
        uow.after_commit(lambda: seen.append(store.db.things.find_one({"_id": "a"})))  # the commit is visible

    store.transaction(commit)
    assert seen == [{"_id": "a"}]

    def fail(uow):
        uow.db.things.insert_one({"_id": "b"}, session=uow.session)
        uow.after_commit(lambda: seen.append("b"))
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        store.transaction(fail)
    assert seen == [{"_id": "a"}] and store.db.things.find_one({"_id": "b"}) is None
    client.close()


def test_find_and_update_claims_each_document_once_and_returns_it_before_or_after(service_config):
    from common.store import find_and_update

    client = MongoClient(service_config["MONGO_URI"], tz_aware=True)
    jobs = client[f"{service_config['DB_PREFIX']}claims"].jobs
    jobs.insert_many([{"_id": f"j{i}", "status": "pending", "n": i} for i in range(3)])
    due = {"status": "pending"}
    claimed = [find_and_update(jobs, due, {"$set": {"status": "taken"}}) for _ in range(4)]
    assert [c and c["status"] for c in claimed] == ["pending", "pending", "pending", None]  # as found
    assert sorted(c["_id"] for c in claimed[:3]) == ["j0", "j1", "j2"]  # each taken once
    after = find_and_update(jobs, {"_id": "j1", "status": "taken"}, {"$inc": {"n": 10}}, after=True)
    assert after == {"_id": "j1", "status": "taken", "n": 11}
    assert find_and_update(jobs, {"_id": "j1", "status": "pending"}, {"$inc": {"n": 10}}) is None
    made = find_and_update(jobs, {"_id": "j9"}, {"$set": {"status": "new"}}, upsert=True, after=True)
    assert made == {"_id": "j9", "status": "new"}
    client.close()


def test_each_process_publishes_what_it_committed_and_the_lease_holder_takes_the_leftovers(service_config):
    import datetime as dt

    from kombu import Connection

    spy = BusSpy(service_config)
    client = MongoClient(service_config["MONGO_URI"], tz_aware=True)
    name = f"{service_config['DB_PREFIX']}fresh"
    holder, other, crashed = (
        Store(client, name, "orders", service_config["AMQP_URI"], service_config) for _ in range(3)
    )
    holder.ensure_outbox_indexes()
    assert holder.holds()
    other.transaction(lambda uow: uow.emit("order_rejected", **rejected("fresh")))
    crashed.transaction(lambda uow: uow.emit("order_rejected", **rejected("left")))
    crashed._fresh.clear()  # died before publishing what it committed
    with Connection(service_config["AMQP_URI"], transport_options={"confirm_publish": True}) as conn:
        assert other.publish_pending(conn, older_than=dt.timedelta(0)) == 0  # not the lease holder
        assert other.publish_fresh(conn) == 1 and other.publish_fresh(conn) == 0
        assert other.db.outbox.count_documents({}) == 2  # published, kept a moment to be deleted with others
        assert other.forget_sent(older_than=60) == 0 and other.forget_sent() == 1
        assert [p["order_id"] for p in spy.wait_for("orders", "order_rejected", count=1)] == ["fresh"]
        assert holder.publish_pending(conn) == 0  # committed just now: its own process may still send it
        assert holder.publish_pending(conn, older_than=dt.timedelta(0)) == 1
    assert sorted(p["order_id"] for p in spy.wait_for("orders", "order_rejected", count=2)) == ["fresh", "left"]
    assert holder.db.outbox.count_documents({}) == 0
    spy.close()
    client.close()


def test_one_relay_holds_the_lease_and_writes_it_only_to_take_or_renew_it(service_config, monkeypatch):
    import datetime as dt

    import common.store as store_module

    clock = [dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)]
    monkeypatch.setattr(store_module, "now", lambda: clock[0])
    client = MongoClient(service_config["MONGO_URI"], tz_aware=True)
    name = f"{service_config['DB_PREFIX']}lease"
    first, second = (Store(client, name, "orders", service_config["AMQP_URI"], service_config) for _ in range(2))
    lease = first.db.outbox_lease

    def until():
        return lease.find_one({"_id": "relay"})["until"]

    def later(seconds):
        clock[0] += dt.timedelta(seconds=seconds)

    assert first.holds() and not second.holds()
    taken = until()
    later(4)  # less than half the lease spent: nothing written
    assert first.holds() and until() == taken and not second.holds()
    later(2)  # more than half spent: renewed
    assert first.holds() and until() == clock[0] + store_module.LEASE and not second.holds()
    first.release_leases()
    later(1)  # the second saw a holder one second ago: it looks again only after two
    assert not second.holds() and lease.count_documents({}) == 0
    later(1.5)
    assert second.holds() and lease.find_one({"_id": "relay"})["holder"] == second.holder
    # the holder dies without releasing: the lease passes on once it has run out, not before
    later(9)
    assert not first.holds()
    later(2)
    assert first.holds() and lease.find_one({"_id": "relay"})["holder"] == first.holder
    # each name is a lease of its own
    assert second.holds("projector") and not first.holds("projector") and first.holds("relay")
    client.close()


def test_a_redelivered_event_is_handled_once_even_when_delivered_concurrently(probe, service_config):
    store, _, _ = probe
    event = publish_event(
        service_config, "dispatch", "order_unfulfillable", order_id="o1", palace_id="p1", code="NO_CREW", reason="缺人"
    )
    pool = eventlet.GreenPool()
    for _ in range(5):
        pool.spawn(publish_event, service_config, "dispatch", "order_unfulfillable", raw=event)
    pool.waitall()
    wait_until(lambda: store.db.seen.find_one({"_id": "o1"}))
    eventlet.sleep(1.5)
    assert store.db.seen.find_one({"_id": "o1"})["n"] == 1
    assert store.db.inbox.count_documents({}) == 1


def test_a_handler_that_keeps_failing_is_dead_lettered_and_its_writes_undone(probe, service_config):
    from tests.helpers import dead_letters

    store, _, _ = probe
    publish_event(
        service_config, "dispatch", "order_unfulfillable", order_id="o2", palace_id="p1", code="BOOM", reason="x"
    )
    letters = wait_until(lambda: dead_letters(service_config), timeout=30)
    headers, body = letters[0]
    assert "handler bug" in headers["reason"] and body["order_id"] == "o2"
    assert store.db.seen.find_one({"_id": "o2"}) is None  # each attempt rolled back
    publish_event(
        service_config, "dispatch", "order_unfulfillable", order_id="o3", palace_id="p1", code="NO_CREW", reason="x"
    )
    wait_until(lambda: store.db.seen.find_one({"_id": "o3"}))  # and the queue keeps flowing


def test_pymongo_under_eventlet_rides_through_a_database_restart():
    """300 greenthreads write through Store.transaction while the server is killed and restarted."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="secantus-restart-")
    cmd = embedded_mongo_command(str(port), data, "ERROR")
    uri = embedded_mongo_uri(port)
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_mongo(uri)
        client = MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=20_000)
        store = Store(client, "restart", "orders", "amqp://unused", {})
        store.db.items.create_index("k", unique=True)
        acknowledged = []

        def write(k):
            for _ in range(30):
                try:
                    store.transaction(lambda uow: uow.db.items.insert_one({"k": k}, session=uow.session))
                    acknowledged.append(k)
                    return
                except PyMongoError as err:
                    if "duplicate key" in str(err):  # committed before the failure was seen
                        acknowledged.append(k)
                        return
                    eventlet.sleep(0.2)

        pool = eventlet.GreenPool(300)
        for k in range(300):
            pool.spawn(write, k)
            if k == 120:
                server.send_signal(signal.SIGKILL)
                server.wait()
                server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pool.waitall()
        assert sorted(acknowledged) == list(range(300))
        assert store.db.items.count_documents({}) == 300
        client.close()
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)


def test_a_dead_letter_can_be_listed_and_replayed_once_the_cause_is_fixed(probe, service_config, capsys):
    from scripts import dlq
    from tests.helpers import dead_letters

    store, _, _ = probe
    publish_event(
        service_config, "dispatch", "order_unfulfillable", order_id="o9", palace_id="p1", code="BOOM", reason="x"
    )
    wait_until(lambda: dead_letters(service_config), timeout=30)
    os.environ["AMQP_URI"] = service_config["AMQP_URI"]
    try:
        assert dlq.main(["list"]) == 0
        assert "handler bug" in capsys.readouterr().out
        assert len(dead_letters(service_config)) == 1  # listing removes nothing
        Probe.fixed = True
        assert dlq.main(["replay", "1"]) == 0
        wait_until(lambda: store.db.seen.find_one({"_id": "o9"}), timeout=15)
    finally:
        os.environ.pop("AMQP_URI")
        Probe.fixed = False
    assert dead_letters(service_config) == []


def test_an_undecodable_message_is_dead_lettered_and_the_queue_keeps_flowing(probe, service_config):
    from kombu import Connection
    from nameko.standalone.events import get_event_exchange

    from tests.helpers import dead_letters

    store, _, _ = probe
    exchange = get_event_exchange("dispatch", service_config)
    with Connection(service_config["AMQP_URI"]) as conn:
        conn.Producer().publish(
            b"\xff{not json",
            exchange=exchange,
            routing_key="order_unfulfillable",
            content_type="application/json",
            content_encoding="binary",
            declare=[exchange],
        )
    letters = wait_until(lambda: dead_letters(service_config), timeout=20)
    assert "undecodable" in letters[0][0]["reason"]
    publish_event(
        service_config, "dispatch", "order_unfulfillable", order_id="o7", palace_id="p1", code="NO_CREW", reason="x"
    )
    wait_until(lambda: store.db.seen.find_one({"_id": "o7"}))


def test_event_queues_are_durable_quorum_queues(probe, rabbit_manager, rabbit_config):
    queues = [q for q in rabbit_manager.get_queues(rabbit_config["vhost"]) if q["name"].startswith("evt-")]
    assert queues and all(q["type"] == "quorum" and q["durable"] for q in queues)
