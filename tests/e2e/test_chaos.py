"""The fault suite in its short form: a dozen orders through the whole flow while processes are
SIGKILLed, the broker and the database restarted; nothing lost, doubled or double-booked."""

import pytest

from scripts import chaos

pytestmark = pytest.mark.e2e


def test_orders_survive_killed_processes_and_broker_and_database_restarts(capsys):
    code = chaos.main(["--orders", "8", "--kill-every", "2", "--seed", "7"])
    out = capsys.readouterr().out
    summary = next(line for line in out.splitlines() if line.startswith("orders="))
    figures = dict(pair.split("=") for pair in summary.split())
    assert figures["lost"] == figures["duplicated"] == figures["double_booked"] == "0", out
    assert "broker" in out and "database" in out
    assert code == 0
