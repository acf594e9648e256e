"""docker-compose.yml and deploy/ stay correct without a Docker engine: parse and check them."""

import os

import yaml

from scripts.service import TARGETS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def compose():
    with open(os.path.join(ROOT, "docker-compose.yml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_every_service_has_a_container_with_its_environment():
    services = compose()["services"]
    for name in TARGETS:
        svc = services[name]
        env = svc["environment"]
        assert env["SERVICE"] == name
        assert env["AMQP_URI"].startswith("amqp://") and "@rabbitmq:5672" in env["AMQP_URI"]
        assert env["MONGO_URI"].startswith("mongodb://") and "replicaSet=rs0" in env["MONGO_URI"]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert svc["healthcheck"]["test"]
        assert svc["depends_on"] == {
            "rabbitmq": {"condition": "service_healthy"},
            "mongo": {"condition": "service_healthy"},
        }


def test_the_broker_and_a_one_node_replica_set_are_there_with_healthchecks():
    services = compose()["services"]
    assert services["rabbitmq"]["image"].startswith("rabbitmq:")
    assert "rs.initiate" in " ".join(services["mongo"]["healthcheck"]["test"])
    assert os.path.exists(os.path.join(ROOT, "deploy", "mongo-entrypoint.sh"))
    with open(os.path.join(ROOT, "deploy", "mongo-entrypoint.sh"), encoding="utf-8") as f:
        assert "--replSet rs0" in f.read()


def test_no_credentials_are_written_in_the_compose_file():
    text = open(os.path.join(ROOT, "docker-compose.yml"), encoding="utf-8").read()
    assert "guest" not in text
    env = compose()["services"]["rabbitmq"]["environment"]
    assert env["RABBITMQ_DEFAULT_PASS"].startswith("${")


def test_the_image_copies_what_the_services_import():
    with open(os.path.join(ROOT, "deploy", "Dockerfile"), encoding="utf-8") as f:
        dockerfile = f.read()
    for part in ("contracts", "common", "services", "scripts", "config.yml", "requirements.txt"):
        assert f"COPY {part}" in dockerfile
    for target in TARGETS.values():
        module, cls = target.split(":")
        assert os.path.exists(os.path.join(ROOT, *module.split(".")) + ".py")
