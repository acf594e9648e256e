"""A palace's events go to one shard, the same in every process; process i of n takes the shards
k % n == i at once and stands by for the others."""

from common import sharding
from common.consuming import ShardHandler, StandbyShardHandler, by_shard


def test_a_palace_has_one_shard_everywhere_and_the_palaces_spread():
    assert sharding.shard_of("haining") == sharding.shard_of("haining")
    shards = {sharding.shard_of(f"palace-{k}") for k in range(64)}
    assert len(shards) >= sharding.SHARDS * 3 // 4
    assert sharding.shard_headers({"palace_id": "haining", "order_id": "o1"}) == {
        sharding.SHARD_HEADER: sharding.shard_of("haining")
    }
    assert sharding.shard_headers({"order_id": "o1"}) == {} and sharding.shard_headers("raw") == {}


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
