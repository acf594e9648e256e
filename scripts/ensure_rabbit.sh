#!/usr/bin/env bash
# Make sure the local RabbitMQ is up, with the management plugin (nameko's test fixtures use it).
# Every question to the broker has a time limit: a node that answers AMQP and the management API
# but is slow to report its full status (rabbitmqctl status) is up, not a reason to wait forever.
set -euo pipefail
alive() { timeout 20 rabbitmq-diagnostics -q ping >/dev/null 2>&1; }
managed() { curl -fs -m 5 -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1; }
if ! alive; then
  echo "starting RabbitMQ…"
  rabbitmq-server -detached || true
  for _ in $(seq 1 60); do alive && break; sleep 1; done
fi
timeout 60 rabbitmqctl -q await_startup >/dev/null 2>&1 || true
if ! managed && ! timeout 30 rabbitmq-plugins -q is_enabled rabbitmq_management >/dev/null 2>&1; then
  timeout 120 rabbitmq-plugins -q enable rabbitmq_management >/dev/null
fi
for _ in $(seq 1 60); do
  managed && exit 0
  sleep 1
done
echo "RabbitMQ management API did not come up on :15672" >&2
exit 1
