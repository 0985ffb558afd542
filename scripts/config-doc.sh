#!/usr/bin/env bash
#  config-doc.sh - the configuration reference (a Markdown table) from
#  common/config.def, the one table every process reads its settings from.
#
#    scripts/config-doc.sh            print the table
#    scripts/config-doc.sh --update   rewrite README.md between its
#                                     config-doc:begin/end markers
#    scripts/config-doc.sh --check    exit 1 when README.md is out of date
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec /usr/bin/python3 - "$ROOT/common/config.def" "$ROOT/README.md" "${1:-}" <<'PY'
import re, sys

defs, readme, mode = sys.argv[1], sys.argv[2], sys.argv[3]
if mode not in ("", "--update", "--check"):
    sys.exit("usage: config-doc.sh [--update | --check]")

text = open(defs).read()
text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)   # block comments
text = re.sub(r"(?m)^\s*//[^\n]*", "", text)        # line comments (not "http://")

# CFG (field, "ENV", TYPE, "default", min, max, flags, "description" ...)
arg = r'\s*("(?:[^"\\]|\\.)*"|[^,()]*?)\s*'
row = re.compile(r"CFG\s*\(" + ",".join([arg] * 7) + r',\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\)', re.S)
processes = [("CFG_REQ_GW", "gateway"), ("CFG_REQ_TOK", "token-svc"),
             ("CFG_REQ_FLOW", "flow-svc"), ("CFG_REQ_KEYS", "keys-svc")]

def unquote(s):
    s = s.strip()
    if s.startswith('"'):
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', s)
        return "".join(parts).replace('\\"', '"').replace("\\\\", "\\")
    return s

def cell(s):
    return s.replace("|", "\\|")

lines = ["| Variable | Type | Default | Required by | Description |",
         "|---|---|---|---|---|"]
for m in row.finditer(text):
    field, env, typ, default, lo, hi, flags, desc = (m.group(i) for i in range(1, 9))
    env, default, desc = unquote(env), unquote(default), unquote(desc)
    if typ.strip() == "INT":
        kind = f"integer {lo.strip()}..{hi.strip()}"
    else:
        kind = "secret string" if "CFG_SECRET" in flags else "string"
    shown = "(none)" if default == "" else f"`{default}`"
    required = ", ".join(name for flag, name in processes if flag in flags) or "-"
    lines.append(f"| `{env}` | {kind} | {cell(shown)} | {required} | {cell(desc)} |")
count = len(lines) - 2
expected = len(re.findall(r"^\s*CFG\s*\(", text, flags=re.M))
if count == 0 or count != expected:
    sys.exit(f"config-doc: parsed {count} of {expected} CFG rows in {defs}")
table = "\n".join(lines) + "\n"

if not mode:
    sys.stdout.write(table)
    sys.exit(0)

begin, end = "<!-- config-doc:begin -->\n", "<!-- config-doc:end -->"
doc = open(readme).read()
i, j = doc.find(begin), doc.find(end)
if i < 0 or j < i:
    sys.exit(f"config-doc: {readme} has no {begin.strip()} ... {end} markers")
new = doc[:i + len(begin)] + table + doc[j:]
if mode == "--check":
    if new != doc:
        sys.exit("config-doc: README.md's configuration reference is out of date "
                 "(run scripts/config-doc.sh --update)")
    sys.exit(0)
if new != doc:
    open(readme, "w").write(new)
    print("config-doc: README.md updated")
PY
