#!/bin/bash
# harbor-db stand-in: a real PostgreSQL 15, set up and started the way Harbor's
# harbor-db image does it (behaviour modelled on its docker-entrypoint.sh and
# initdb.sh). Runs as the postgres user (uid 999). The data directory is
# $PGDATA/pg15, i.e. <data_volume>/database/pg15 on the host.
set -e

PG_VERSION_NEW=15
export PATH="/usr/lib/postgresql/$PG_VERSION_NEW/bin:$PATH"
DATA="$PGDATA/pg$PG_VERSION_NEW"

# PostgreSQL 9.6 data sat directly in $PGDATA: Harbor refuses to upgrade it in one go.
if [ -s "$PGDATA/PG_VERSION" ]; then
    echo "Upgrading from PostgreSQL 9.6 to PostgreSQL $PG_VERSION_NEW is not supported in the current Harbor release."
    echo "You should upgrade to previous Harbor firstly, then upgrade to current release."
    exit 1
fi
# Harbor's image also carries PostgreSQL 14 and pg_upgrades $PGDATA/pg14; the stand-in does not.
if [ ! -s "$DATA/PG_VERSION" ] && [ -s "$PGDATA/pg14/PG_VERSION" ]; then
    echo "$PGDATA/pg14 holds PostgreSQL 14 data: the stand-in harbor-db cannot upgrade it"
    exit 1
fi

if [ ! -s "$DATA/PG_VERSION" ]; then
    echo "init DB, DB version:$PG_VERSION_NEW"
    initdb -D "$DATA" -U postgres -E UTF-8 --lc-collate=en_US.UTF-8 --lc-ctype=en_US.UTF-8 $POSTGRES_INITDB_ARGS
    if [ -n "$POSTGRES_PASSWORD" ]; then
        # As Harbor's initdb.sh: the password goes into the SQL statement as it is,
        # so a single quote in database.password breaks the first initdb.
        password="PASSWORD '$POSTGRES_PASSWORD'"
        method=md5
    else
        echo "WARNING: No password has been set for the database." >&2
        password=
        method=trust
    fi
    printf '\nhost all all all %s\n' "$method" >> "$DATA/pg_hba.conf"
    # Set up over the socket only, then restarted to listen on the network.
    pg_ctl -D "$DATA" -o "-c listen_addresses=''" -w start
    psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres <<EOSQL
ALTER USER "postgres" WITH SUPERUSER $password ;
EOSQL
    # Harbor's initial-registry.sql: the registry database and golang-migrate's table.
    psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres <<'EOSQL'
CREATE DATABASE registry ENCODING 'UTF8';
\c registry
CREATE TABLE schema_migrations(version bigint not null primary key, dirty boolean not null);
EOSQL
    pg_ctl -D "$DATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
fi

max_connections="${POSTGRES_MAX_CONNECTIONS:-1024}"
if [ "$max_connections" -le 0 ] || [ "$max_connections" -gt 262143 ]; then
    max_connections=262143
fi
exec postgres -D "$DATA" -c max_connections="$max_connections"
