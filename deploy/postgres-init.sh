#!/usr/bin/env bash
#  Runs once, when the postgres container initialises an empty data folder
#  (/docker-entrypoint-initdb.d): the `ostiary` database, one login role per
#  service, each the owner of its own schema and of nothing else. The same
#  layout as scripts/pg.sh bootstrap, without the unit-test database.
#  Passwords come from OSTIARY_{TOKEN,FLOW,KEYS}_DB_PASSWORD.
set -euo pipefail

for var in OSTIARY_TOKEN_DB_PASSWORD OSTIARY_FLOW_DB_PASSWORD OSTIARY_KEYS_DB_PASSWORD; do
    if [ -z "${!var:-}" ]; then
        echo "postgres-init: $var is not set" >&2
        exit 1
    fi
done

#  Passwords reach psql as variables on stdin, never on a command line.
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" <<SQL
SET client_min_messages = warning;
\set pw_token '${OSTIARY_TOKEN_DB_PASSWORD//\'/\'\'}'
\set pw_flow '${OSTIARY_FLOW_DB_PASSWORD//\'/\'\'}'
\set pw_keys '${OSTIARY_KEYS_DB_PASSWORD//\'/\'\'}'
SELECT 'CREATE ROLE ostiary_token LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ostiary_token') \gexec
SELECT 'CREATE ROLE ostiary_flow LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ostiary_flow') \gexec
SELECT 'CREATE ROLE ostiary_keys LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ostiary_keys') \gexec
ALTER ROLE ostiary_token LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw_token';
ALTER ROLE ostiary_flow LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw_flow';
ALTER ROLE ostiary_keys LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw_keys';
SELECT 'CREATE DATABASE ostiary' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'ostiary') \gexec
REVOKE ALL ON DATABASE ostiary FROM PUBLIC;
GRANT CONNECT ON DATABASE ostiary TO ostiary_token, ostiary_flow, ostiary_keys;
\connect ostiary
SET client_min_messages = warning;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS token AUTHORIZATION ostiary_token;
CREATE SCHEMA IF NOT EXISTS flow AUTHORIZATION ostiary_flow;
CREATE SCHEMA IF NOT EXISTS keys AUTHORIZATION ostiary_keys;
ALTER SCHEMA token OWNER TO ostiary_token;
ALTER SCHEMA flow OWNER TO ostiary_flow;
ALTER SCHEMA keys OWNER TO ostiary_keys;
REVOKE ALL ON SCHEMA token, flow, keys FROM PUBLIC;
ALTER ROLE ostiary_token IN DATABASE ostiary SET search_path = token;
ALTER ROLE ostiary_flow IN DATABASE ostiary SET search_path = flow;
ALTER ROLE ostiary_keys IN DATABASE ostiary SET search_path = keys;
SQL
echo "postgres-init: database ostiary with roles ostiary_token, ostiary_flow, ostiary_keys"
