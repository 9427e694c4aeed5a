#!/usr/bin/env bash
# One database per Microblog service, each owned by a login role of the same name that only it can
# connect to, so a service cannot read another's data even by mistake.
#
# The postgres image runs this once, on the first start of an empty data volume
# (/docker-entrypoint-initdb.d). It is safe to run again, for example after adding a service:
#   docker compose exec postgres /docker-entrypoint-initdb.d/init-databases.sh
#
# Environment:
#   POSTGRES_USER, POSTGRES_DB     the superuser and its database (set by the postgres image)
#   MICROBLOG_DATABASES            space-separated names (default: the six services)
#   MICROBLOG_DB_PASSWORD          the password every service role gets (required)
set -euo pipefail

databases="${MICROBLOG_DATABASES:-users posts search translate notify web}"
password="${MICROBLOG_DB_PASSWORD:?MICROBLOG_DB_PASSWORD must be set}"

for db in $databases; do
    if [[ ! "$db" =~ ^[a-z][a-z0-9_]*$ ]]; then
        echo "init-databases: refusing database name '$db' (want lower-case letters, digits, _)" >&2
        exit 1
    fi
    # psql variables (:'name') are quoted by psql and format() quotes identifiers and literals,
    # so nothing from the environment is pasted into SQL as is. \gexec runs each generated line.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
        --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        -v db="$db" -v pw="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'db')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'db') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'db', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'db')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'db', :'db') \gexec
SQL
    echo "init-databases: database '$db' owned by role '$db'"
done
