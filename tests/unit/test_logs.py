"""What the log filter masks: no password of any node of a broker cluster or database address
reaches a log line (nameko itself masks only the first of a `;`-separated list)."""

import logging

from common.logs import RedactSecrets, redact


def test_the_password_of_every_address_is_masked_and_the_rest_is_kept():
    line = "Error connecting to broker at pyamqp://guest:********@rabbit-0:5672/;amqp://songwenhua:s3cr%40t@rabbit-1:5672/vh"
    masked = redact(line)
    assert "s3cr" not in masked
    assert masked.endswith(";amqp://songwenhua:********@rabbit-1:5672/vh")
    assert redact("mongodb://app:pw-1@db-0:27017,db-1:27017/?replicaSet=rs0") == (
        "mongodb://app:********@db-0:27017,db-1:27017/?replicaSet=rs0"
    )
    assert redact("amqp://rabbit-0:5672/") == "amqp://rabbit-0:5672/"  # no password, nothing changed


def test_the_filter_rewrites_a_record_that_carries_one():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "at %s", ("amqp://u:p4ss@h:5672/",), None)
    assert RedactSecrets().filter(record) and record.getMessage() == "at amqp://u:********@h:5672/"
