"""The whole system as separate processes, started by scripts/run.py exactly as `make run` does."""

import uuid

import pytest

from tests.helpers import BusSpy
from tests.servers import forget_databases, running_system


@pytest.fixture
def system(rabbit_config, mongo_uri, db_prefix):
    config = {"AMQP_URI": rabbit_config["AMQP_URI"]}
    spy = BusSpy(config)
    try:
        with running_system(rabbit_config["AMQP_URI"], mongo_uri, db_prefix) as base:
            yield base, config, spy
    finally:
        spy.close()


@pytest.fixture(scope="module")
def module_system(request, vhost_pipeline, mongo_uri):
    """One system for a whole module (e.g. the schemathesis run), in its own vhost and databases."""
    from urllib.parse import urlparse

    uri = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
    prefix = f"m{uuid.uuid4().hex[:8]}_"
    with vhost_pipeline.get() as vhost:
        amqp_uri = f"{uri.scheme}://{uri.netloc}/{vhost}"
        with running_system(amqp_uri, mongo_uri, prefix) as base:
            yield base, {"AMQP_URI": amqp_uri, "DB_PREFIX": prefix}
    forget_databases(mongo_uri, prefix)
