#!/bin/bash
# Healthy when PostgreSQL answers a query over the network (not the local socket),
# with the password, as Harbor's harbor-db healthcheck asks it.
set -eo pipefail
address="$(hostname -i || echo 127.0.0.1)"
export PGPASSWORD="${POSTGRES_PASSWORD:-}"
answer="$(echo 'SELECT 1' | psql --host "${address%% *}" --username postgres --dbname postgres \
    --quiet --no-align --tuples-only)"
[ "$answer" = 1 ]
