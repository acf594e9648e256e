#!/usr/bin/env bash
# Start mongod as a one-node replica set with a key file taken from the environment.
set -euo pipefail
printf '%s' "$MONGO_REPLICA_KEY" > /tmp/replica.key
chmod 400 /tmp/replica.key
chown 999:999 /tmp/replica.key
exec docker-entrypoint.sh mongod --replSet rs0 --keyFile /tmp/replica.key --bind_ip_all
