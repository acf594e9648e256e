#!/usr/bin/env bash
# Make sure the local RabbitMQ is up, with the management plugin (nameko's test fixtures use it).
set -euo pipefail
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  echo "starting RabbitMQ…"
  rabbitmq-server -detached || true
  for _ in $(seq 1 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
fi
rabbitmqctl -q await_startup >/dev/null 2>&1 || true
if ! rabbitmq-plugins -q is_enabled rabbitmq_management >/dev/null 2>&1; then
  rabbitmq-plugins -q enable rabbitmq_management >/dev/null
fi
for _ in $(seq 1 60); do
  curl -fs -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "RabbitMQ management API did not come up on :15672" >&2
exit 1
