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


K8S = os.path.join(ROOT, "deploy", "k8s")
WORKLOADS = ("Deployment", "StatefulSet")


def manifests() -> list[dict]:
    docs = []
    for name in sorted(os.listdir(K8S)):
        if name.endswith(".yaml"):
            with open(os.path.join(K8S, name), encoding="utf-8") as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def test_every_kubernetes_manifest_is_valid_against_the_kubernetes_schemas_offline():
    import kubernetes_validate

    custom = {("rabbitmq.com/v1beta1", "RabbitmqCluster"), ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity")}
    checked = 0
    for doc in manifests():
        if (doc["apiVersion"], doc["kind"]) in custom:
            continue  # the operators' own resources: checked below
        kubernetes_validate.validate(doc, "1.37", strict=True)  # raises on the first mistake
        checked += 1
    assert checked >= 14


def test_the_broker_is_a_three_node_cluster_and_the_database_a_three_member_replica_set():
    by_kind = {d["kind"]: d for d in manifests()}
    rabbit = by_kind["RabbitmqCluster"]["spec"]
    assert rabbit["replicas"] == 3 and "default_queue_type = quorum" in rabbit["rabbitmq"]["additionalConfig"]
    mongo = by_kind["MongoDBCommunity"]["spec"]
    assert mongo["members"] == 3 and mongo["type"] == "ReplicaSet"
    assert all("passwordSecretRef" in u for u in mongo["users"])


def test_every_service_runs_with_probes_resources_and_secrets_from_the_environment():
    deployments = {d["metadata"]["name"]: d for d in manifests() if d["kind"] in WORKLOADS}
    assert set(deployments) == set(TARGETS)
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["SERVICE"]["value"] == name
        for secret in ("AMQP_URI", "MONGO_URI", "FEED_SECRET", "INVITE_SECRET"):
            assert env[secret]["valueFrom"]["secretKeyRef"]["name"] == "songwenhua-secrets"
        assert container["readinessProbe"] and container["livenessProbe"]
        limit = container["resources"]["limits"]["memory"]
        assert limit.endswith("Mi") and int(limit[:-2]) <= 300  # a service process stays under 300 MiB
        assert deployment["spec"]["replicas"] >= 1
    assert (
        deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"]
        == "/healthz"
    )


def test_the_compose_file_follows_the_compose_specification():
    import subprocess
    import sys

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            os.path.join(ROOT, "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_grafana_dashboard_reads_metrics_the_services_export():
    import json
    import re

    with open(os.path.join(ROOT, "deploy", "grafana", "songwenhua-services.json"), encoding="utf-8") as f:
        dashboard = json.load(f)
    with open(os.path.join(ROOT, "common", "observability.py"), encoding="utf-8") as f:
        exported = set(re.findall(r'"(songwenhua_[a-z_]+)"', f.read()))
    used = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"songwenhua_[a-z_]+", t["expr"])}
    assert used
    for metric in used:
        base = re.sub(r"_(bucket|sum|count)$", "", metric)
        assert base in exported or base.removesuffix("_total") in {e.removesuffix("_total") for e in exported}, metric
    for deployment in (d for d in manifests() if d["kind"] in WORKLOADS):
        template = deployment["spec"]["template"]
        assert template["metadata"]["annotations"]["prometheus.io/port"] == "9100"
        env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0]["env"]}
        assert env["METRICS_PORT"] == "9100" and env["LOG_FORMAT"] == "json"


def test_every_service_is_given_the_three_broker_nodes_and_the_cluster_profile_has_them():
    services = compose()["services"]
    for name in TARGETS:
        hosts = [uri.rpartition("@")[2] for uri in services[name]["environment"]["AMQP_URI"].split(";")]
        assert hosts == ["rabbitmq:5672/", "rabbitmq-1:5672/", "rabbitmq-2:5672/"], name
    assert "profiles" not in services["rabbitmq"]
    for node in ("rabbitmq-1", "rabbitmq-2"):
        assert services[node]["profiles"] == ["cluster"] and services[node]["hostname"] == node
        assert any(v.endswith("30-cluster.conf:ro") for v in services[node]["volumes"])
    cookies = {services[n]["environment"]["RABBITMQ_ERLANG_COOKIE"] for n in ("rabbitmq", "rabbitmq-1", "rabbitmq-2")}
    assert cookies == {"${RABBITMQ_COOKIE:?set RABBITMQ_COOKIE}"}
    with open(os.path.join(ROOT, "deploy", "rabbitmq-cluster.conf"), encoding="utf-8") as f:
        conf = f.read()
    assert all(f"rabbit@{n}" in conf for n in ("rabbitmq", "rabbitmq-1", "rabbitmq-2"))
    with open(os.path.join(ROOT, "deploy", "k8s", "10-config.yaml"), encoding="utf-8") as f:
        assert "songwenhua-rabbitmq-server-%s.songwenhua-rabbitmq-nodes" in f.read()


def sharded_services() -> set[str]:
    """The services with an entrypoint on keyed shards (common.consuming.by_shard, or a batch
    consumer that takes its share of shard queues first and stands by for the rest)."""
    import importlib

    from common.batching import BatchConsumer
    from common.consuming import ShardHandler

    found = set()
    for name, target in TARGETS.items():
        module, cls = target.split(":")
        service = getattr(importlib.import_module(module), cls)
        for attr in vars(service).values():
            entrypoints = getattr(attr, "nameko_entrypoints", ())
            if any(isinstance(e, ShardHandler) for e in entrypoints) or any(
                isinstance(e, BatchConsumer) and e.standby is not None and not getattr(e.standby, "one_process", False)
                for e in entrypoints
            ):
                found.add(name)
    return found


def test_the_sharded_services_are_stateful_sets_whose_pods_know_their_index():
    from common.sharding import process_index

    sharded = sharded_services()
    assert {"dispatch", "notifications", "feedback"} <= sharded
    docs = manifests()
    sets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "StatefulSet"}
    assert set(sets) == sharded
    headless = {
        d["metadata"]["name"]: d for d in docs if d["kind"] == "Service" and d["spec"].get("clusterIP") == "None"
    }
    for name, workload in sets.items():
        spec = workload["spec"]
        assert spec["serviceName"] == name and name in headless  # the pods' stable names: name-0, name-1, …
        assert headless[name]["spec"]["selector"] == spec["selector"]["matchLabels"]
        assert spec["podManagementPolicy"] == "Parallel"  # they start together and spread the shards
        env = {e["name"]: e for e in spec["template"]["spec"]["containers"][0]["env"]}
        assert env["PROCESSES"]["value"] == str(spec["replicas"])
        field = env["PROCESS_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
        assert field == "metadata.labels['apps.kubernetes.io/pod-index']"
        # where the label is missing (before Kubernetes 1.28) the pod's host name says it
        assert [process_index("", hostname=f"{name}-{k}") for k in range(spec["replicas"])] == list(
            range(spec["replicas"])
        )
    for workload in (d for d in docs if d["kind"] == "Deployment"):
        assert workload["metadata"]["name"] not in sharded
