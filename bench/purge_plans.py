#!/usr/bin/python3
"""bench/purge_plans.py PSQL... - the plan and cost of each janitor purge
statement of token-svc on the database that `PSQL...` (a psql command line)
reaches: the statements are read from token-svc/token_store.c and prepared as
token-svc prepares them, then run under EXPLAIN (ANALYZE, BUFFERS) in
transactions that are rolled back (nothing is deleted), in two states:

  backlog  the tables as they are (one batch of OSTIARY_JANITOR_BATCH rows)
  caught up  every row the janitor could delete already gone (deleted in
           the same rolled-back transaction; statistics left as they were,
           as after a janitor caught up and before autoanalyze)

each with a custom plan (the parameters' values known) and the generic one
that a prepared statement settles on after five executions. One markdown row
per statement, state and plan: top scan node of each table, ms, buffers.
Environment: BATCH (500), MAX_S (2592000), IDLE_S (1209600)."""
import json, os, re, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STMTS = ["token_purge_requests", "token_purge_codes", "token_purge_revoked", "token_purge_family_jtis",
         "token_purge_families", "token_purge_subjects"]
PARAMS = {"token_purge_families": 3, "token_purge_subjects": 2}
batch, max_s, idle_s = (os.environ.get(k, d) for k, d in (("BATCH", "500"), ("MAX_S", "2592000"), ("IDLE_S", "1209600")))

#  The statements as the compiler sees them (their macros expanded).
src = subprocess.run(["cc", "-E", "-P", "-I" + ROOT, "-I" + os.path.join(ROOT, "common"), "-I/usr/include/postgresql",
                      os.path.join(ROOT, "token-svc", "token_store.c")], capture_output=True, text=True, check=True).stdout
def stmt_sql(name):
    i = src.index('{"%s",' % name) + len(name) + 4
    body = re.sub(r"//[^\n]*", "", src[i:src.index("DB_STMT", i)])
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body)).encode().decode("unicode_escape")

CATCH_UP = f"""
DELETE FROM token.authz_requests WHERE expires_at < now() - interval '1 hour';
DELETE FROM token.codes WHERE expires_at < now() - interval '1 hour'
  AND (issued_exp IS NULL OR issued_exp < now() - interval '5 minutes');
DELETE FROM token.revoked_jtis WHERE expires_at < now() - interval '5 minutes';
DELETE FROM token.family_jtis WHERE expires_at < now() - interval '5 minutes';
DELETE FROM token.refresh_families f WHERE (revoked_at < now() - interval '1 hour'
  OR created_at < now() - make_interval(secs => {max_s}) - interval '1 hour'
  OR last_used_at < now() - make_interval(secs => {idle_s}) - interval '1 hour')
  AND NOT EXISTS (SELECT 1 FROM token.family_jtis j WHERE j.family_id = f.id
  AND j.expires_at > now() - interval '5 minutes');
"""

script = ["\\set ON_ERROR_STOP 1", "\\pset tuples_only on", "\\pset format unaligned", "SET client_min_messages = warning;"]
for name in STMTS:
    script.append(f"PREPARE {name} AS {stmt_sql(name)};")
#  CATCH_UP=1: the dead rows are deleted for real (committed, then VACUUM
#  without ANALYZE, as a janitor that caught up leaves them), and only that
#  state is measured. Otherwise they are deleted in the measuring transaction,
#  whose index entries then still point at rows that only it deleted (every
#  scan visits them: an upper bound of the cost).
states = ("caught up",) if os.environ.get("CATCH_UP") == "1" else ("backlog", "caught up")
if states == ("caught up",):
    script.append(CATCH_UP)
    script.append("VACUUM token.authz_requests, token.codes, token.revoked_jtis, token.family_jtis,"
                  " token.refresh_tokens, token.refresh_families;")
    #  The first scans after a mass delete mark the index entries of the
    #  dead rows killed (each visits their heap rows once): a janitor's
    #  rounds do the same.
    script.append("BEGIN;")
    for name in STMTS:
        args = [batch, max_s, idle_s][: PARAMS.get(name, 1)]
        script.append(f"EXECUTE {name}({', '.join(args)});")
    script.append("ROLLBACK;")
for state in states:
    script.append("BEGIN;")
    if state == "caught up" and len(states) == 2:
        script.append(CATCH_UP)
    for mode in ("force_custom_plan", "force_generic_plan"):
        script.append(f"SET LOCAL plan_cache_mode = {mode};")
        for name in STMTS:
            args = [batch, max_s, idle_s][: PARAMS.get(name, 1)]
            script.append(f"\\echo @@ {name}|{state}|{mode}")
            script.append(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}({', '.join(args)});")
    script.append("ROLLBACK;")
out = subprocess.run(sys.argv[1:] + ["-q", "-X"], input="\n".join(script) + "\n", capture_output=True, text=True)
if out.returncode != 0:
    sys.exit(out.stderr)

def scans(node, acc):
    t = node.get("Node Type", "")
    if "Scan" in t and "Relation Name" in node:
        acc.append(f"{t} {node['Relation Name']}" + (f" ({node['Index Name']})" if "Index Name" in node else ""))
    for c in node.get("Plans", []):
        scans(c, acc)
    return acc

print("| statement | state | plan | scans | rows deleted | ms | buffers hit+read |")
print("|---|---|---|---|---|---|---|")
for chunk in out.stdout.split("@@ ")[1:]:
    head, _, body = chunk.partition("\n")
    name, state, mode = head.split("|")
    plan = json.loads(body)[0]
    top = plan["Plan"]
    seen = []
    for s in scans(top, []):
        if s not in seen:
            seen.append(s)
    buf = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
    #  A DELETE without RETURNING reports 0 rows; its input is what it deleted.
    deleted = top["Plans"][0]["Actual Rows"] if top.get("Plans") else top.get("Actual Rows", 0)
    print(f"| {name} | {state} | {mode.split('_')[1]} | {'; '.join(seen)} | "
          f"{deleted} | {plan['Execution Time']:.1f} | {buf} |")
