#!/usr/bin/env bash
# Make sure the local RabbitMQ is up, with the management plugin (nameko's test fixtures use it).
# Every question to the broker has a time limit: a node that answers AMQP and the management API
# but is slow to report its full status (rabbitmqctl status) is up, not a reason to wait forever.
set -euo pipefail
alive() { timeout 20 rabbitmq-diagnostics -q ping >/dev/null 2>&1; }
managed() { curl -fs -m 5 -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1; }
# Every connection and every queue's files take a file descriptor: a node left at the usual 1024
# runs out under a test run with many processes, stops accepting connections and then loses its
# own tables. It starts with as many as the machine allows, and a running node below that is
# given them (prlimit, where there is one to give).
FILES=$(ulimit -Hn)
[ "$FILES" = unlimited ] && FILES=1048576
ulimit -n "$FILES" 2>/dev/null || true
raise_files() {
  command -v prlimit >/dev/null 2>&1 || return 0
  for pid in $(pgrep -u rabbitmq -f beam.smp 2>/dev/null); do
    soft=$(prlimit --pid "$pid" --nofile --output SOFT --noheadings 2>/dev/null | tr -d ' ' || true)
    if [ -n "$soft" ] && [ "$soft" != unlimited ] && [ "$soft" -lt "$FILES" ]; then
      prlimit --pid "$pid" --nofile="$FILES:$FILES" 2>/dev/null || true
    fi
  done
}
start_node() {
  # Debian's wrapper starts the node through su, which sets the usual 1024 again: as root, the
  # node is started as its own user with the limit raised in that same shell
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1 && [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    su rabbitmq -s /bin/sh -c "cd /var/lib/rabbitmq && ulimit -n $FILES 2>/dev/null; /usr/lib/rabbitmq/bin/rabbitmq-server -detached" || true
  else
    rabbitmq-server -detached || true
  fi
}
if ! alive; then
  echo "starting RabbitMQ…"
  start_node
  for _ in $(seq 1 60); do alive && break; sleep 1; done
fi
timeout 60 rabbitmqctl -q await_startup >/dev/null 2>&1 || true
raise_files
if ! managed && ! timeout 30 rabbitmq-plugins -q is_enabled rabbitmq_management >/dev/null 2>&1; then
  timeout 120 rabbitmq-plugins -q enable rabbitmq_management >/dev/null
fi
for _ in $(seq 1 60); do
  managed && exit 0
  sleep 1
done
echo "RabbitMQ management API did not come up on :15672" >&2
exit 1
