"""Handlers that would write the same documents take turns within a process."""

import eventlet

from common.consuming import Turns


def test_same_key_waits_its_turn_other_keys_go_on_and_nothing_is_kept_after():
    turns = Turns()
    log = []

    def handler(key, name):
        with turns.turn(key):
            log.append(f"{name} in")
            eventlet.sleep(0.01)  # a database round trip
            log.append(f"{name} out")

    pool = eventlet.GreenPool()
    for key, name in (("o1", "a"), ("o1", "b"), ("o2", "c"), (None, "d")):
        pool.spawn(handler, key, name)
    pool.waitall()
    assert log.index("a out") < log.index("b in")  # same order: one after the other
    assert log.index("c in") < log.index("a out") and log.index("d in") < log.index("a out")  # others did not wait
    assert turns._held == {}


def test_a_failing_holder_gives_up_its_turn():
    turns = Turns()
    try:
        with turns.turn("o1"):
            raise RuntimeError("handler bug")
    except RuntimeError:
        pass
    with eventlet.Timeout(1):
        with turns.turn("o1"):
            pass
    assert turns._held == {}
