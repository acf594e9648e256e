"""A palace's events go to one shard, the same in every process; process i of n takes the shards
k % n == i at once and stands by for the others."""

from common import sharding
from common.consuming import ShardHandler, StandbyShardHandler, by_shard


def test_a_palace_has_one_shard_everywhere_and_the_palaces_spread():
    assert sharding.shard_of("haining") == sharding.shard_of("haining")
    shards = {sharding.shard_of(f"palace-{k}") for k in range(64)}
    assert len(shards) >= sharding.SHARDS * 3 // 4
    assert sharding.shard_headers({"palace_id": "haining", "order_id": "o1"}) == {
        "palace-shard": sharding.shard_of("haining"),
        "order-shard": sharding.shard_of("o1"),
    }
    assert sharding.shard_headers({"order_id": "o1"}) == {"order-shard": sharding.shard_of("o1")}
    assert sharding.shard_headers({"title": "x"}) == {} and sharding.shard_headers("raw") == {}


def test_no_shard_header_starts_with_x_for_the_headers_exchange_leaves_those_out_of_the_match():
    assert sharding.SHARD_HEADER == sharding.HEADERS["palace_id"]
    assert not any(h.lower().startswith("x-") for h in sharding.HEADERS.values())


def test_the_process_index_is_the_setting_or_a_pods_ordinal(monkeypatch):
    assert sharding.process_index("2") == 2
    assert sharding.process_index("2", hostname="dispatch-3") == 2  # the setting wins
    assert sharding.process_index("", hostname="dispatch-3") == 3
    assert sharding.process_index(None, hostname="notifications-0") == 0
    assert sharding.process_index("", hostname="laptop") is None
    assert sharding.process_index("first") is None
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert sharding.process_index("") is None  # outside a pod the host name says nothing
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setattr(sharding.socket, "gethostname", lambda: "feedback-1")
    assert sharding.process_index("") == 1


def _entrypoints(monkeypatch, index, processes):
    monkeypatch.setenv("PROCESSES", str(processes))
    if index is None:
        monkeypatch.delenv("PROCESS_INDEX", raising=False)
    else:
        monkeypatch.setenv("PROCESS_INDEX", str(index))

    @by_shard("orders", ("order_accepted",))
    def handle(self, event_type, payload):
        pass

    return {e.shard: type(e) for e in handle.nameko_entrypoints}


def test_process_i_of_n_takes_its_shards_first_and_stands_by_for_the_rest(monkeypatch):
    second = _entrypoints(monkeypatch, 1, 2)
    assert len(second) == sharding.SHARDS
    assert all((cls is ShardHandler) == (int(k) % 2 == 1) for k, cls in second.items())
    assert StandbyShardHandler in second.values()
    alone = _entrypoints(monkeypatch, None, 4)
    assert set(alone.values()) == {ShardHandler}


def test_a_pods_ordinal_picks_its_shards_when_no_index_is_set(monkeypatch):
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setattr(sharding.socket, "gethostname", lambda: "dispatch-1")
    second = _entrypoints(monkeypatch, None, 2)
    assert all((cls is ShardHandler) == (int(k) % 2 == 1) for k, cls in second.items())


def test_shards_by_order_are_bound_on_their_own_header():
    @by_shard("dispatch", ("offer_made", "order_scheduled"), key="order_id")
    def handle(self, event_type, payload):
        pass

    entry = handle.nameko_entrypoints
    assert {e.key for e in entry} == {"order_id"} and {e.event_types for e in entry} == {
        ("offer_made", "order_scheduled")
    }


def test_shards_fed_by_several_sources_are_named_by_the_service_and_key():
    from common.consuming import shard_exchange_name, shard_queue_name

    assert shard_exchange_name("dispatch", "orders") == "dispatch.orders.shards"  # as dispatch always had
    assert shard_queue_name("dispatch", "orders", "palace_id", "03") == "dispatch-orders-shard-03"
    both = {"orders": ("order_placed",), "dispatch": ("offer_made",)}
    assert shard_exchange_name("notifications", both, "order_id") == "notifications.order.shards"
    assert shard_queue_name("notifications", both, "order_id", "03") == "notifications-order-shard-03"

    @by_shard(both, key="order_id")
    def handle(self, source, event_type, payload):
        pass

    assert {len(e.sources) for e in handle.nameko_entrypoints} == {2}


def test_each_feedback_process_takes_its_share_of_the_answer_shards_first_and_stands_by_for_the_rest():
    from contracts import intake

    names = lambda queues: [q.name for q in queues]  # noqa: E731
    first, later = intake.queues_of(1, 4)
    assert names(first) == ["feedback.intake.responses", *(f"feedback.intake.shard-{k:02d}" for k in (1, 5, 9, 13))]
    assert len(later) == sharding.SHARDS - 4 and not set(names(first)) & set(names(later))
    shares = [set(names(intake.queues_of(i, 3)[0])) - {"feedback.intake.responses"} for i in range(3)]
    assert set.union(*shares) == set(names(intake.SHARD_QUEUES)) and sum(map(len, shares)) == sharding.SHARDS
    alone, none_later = intake.queues_of(None, 4)
    assert len(alone) == sharding.SHARDS + 1 and none_later == []
    # a survey's answers always go to the same shard queue, one consumer at a time
    assert intake.shard_key("s-1") == intake.shard_key("s-1") == sharding.shard_of("s-1")
    assert all(q.queue_arguments["x-single-active-consumer"] for q in intake.SHARD_QUEUES)
    assert intake.SHARD_QUEUES[int(intake.shard_key("s-1"))].routing_key == intake.shard_key("s-1")
