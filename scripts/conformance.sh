#!/usr/bin/env bash
#  conformance.sh - `make conformance`: the harness of tests/conformance (the
#  OpenID Foundation's OP certification plans, module by module) against
#  the binaries of $BUILD, and its table in tests/conformance/README.md.
#
#  OSTIARY_CONFORMANCE_README: where the table goes (default
#  tests/conformance/README.md; scripts/test.sh writes it under its own
#  folder and says when it differs from the committed one).
#  OSTIARY_E2E_DIR: the stack's folder (default: the fixture's own under
#  $BUILD/e2e, removed unless a test failed). The cluster is
#  scripts/test.sh's when it exports OSTIARY_DB_*, a throwaway one otherwise
#  (tests/e2e/conftest.py).
#  The last line is pytest's summary; the exit status is pytest's.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build/rel}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export OSTIARY_BIN_DIR=$BUILD/bin
export PYTHONDONTWRITEBYTECODE=1
export OSTIARY_CONFORMANCE_README=${OSTIARY_CONFORMANCE_README:-$ROOT/tests/conformance/README.md}
exec /usr/bin/python3 -m pytest tests/conformance -q -p no:cacheprovider -rs --durations=5 </dev/null
