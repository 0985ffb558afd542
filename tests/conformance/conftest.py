"""The conformance harness: the OpenID Foundation's OP certification plans
reproduced module by module (tests/conformance/modules.py lists them, with
what each checks), against the stack of tests/e2e/conftest.py.

The fixtures of tests/e2e/conftest.py (`stack` and the rest) are that file's
own, loaded here under another module name: one harness, one stack per
session. Each test is named after its module (oidcc-server ->
test_oidcc_server) and ends the way the suite would end it:

    passed                     every check of the module holds
    skipped                    pytest.skip with the suite's reason
    warning                    `conformance.warn(reason)`: the test passes, the
                               reason is shown in pytest's warnings summary
                               and in the table
    failed                     a check does not hold

`conformance.review(note)` records what the suite would have a person look
at (a screenshot of a page); the harness checks that page itself and says so
in the table.

With OSTIARY_CONFORMANCE_README=path (make conformance) the session ends by
writing that table: tests/conformance/README.md."""

import importlib.util
import os
import sys
import warnings
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
E2E = HERE.parent / "e2e"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(E2E))

_spec = importlib.util.spec_from_file_location("e2e_conftest", E2E / "conftest.py")
e2e_conftest = importlib.util.module_from_spec(_spec)
sys.modules["e2e_conftest"] = e2e_conftest
_spec.loader.exec_module(e2e_conftest)

# The e2e fixtures and hooks, shared rather than copied.
stack = e2e_conftest.stack
http = e2e_conftest.http
_restore_stack = e2e_conftest._restore_stack
# What the e2e helpers (apache.py, ...) import from "conftest".
free_port = e2e_conftest.free_port
REPO = e2e_conftest.REPO
_e2e_terminal_summary = e2e_conftest.pytest_terminal_summary

import modules  # noqa: E402  (needs the paths above)


class ConformanceWarning(UserWarning):
    """A module the suite would end in WARNING."""


class Conformance:
    """What one test records beyond pass/fail: warnings and review notes."""

    def __init__(self):
        self.warnings = []
        self.reviews = []

    def warn(self, reason):
        self.warnings.append(reason)
        warnings.warn(ConformanceWarning(reason), stacklevel=2)

    def review(self, note):
        self.reviews.append(note)


_results = []


@pytest.fixture
def conformance(request):
    c = Conformance()
    request.node._conformance = c
    return c


def _module_of(item):
    name = getattr(item, "originalname", None) or item.name.split("[")[0]
    return name[len("test_"):].replace("_", "-")


def _variant_of(item):
    """The module's Variant: the test's `variant` fixture, or the function's
    `variant` attribute (the plans' discovery modules)."""
    v = getattr(item, "funcargs", {}).get("variant")
    return v if v is not None else getattr(getattr(item, "function", None), "variant", None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    c = getattr(item, "_conformance", None)
    if report.when == "call" or (report.when == "setup" and report.skipped) or \
            (report.when == "setup" and report.failed):
        variant = _variant_of(item)
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            result = ("skipped", reason.removeprefix("Skipped: "))
        elif report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            text = (crash.message if crash else str(report.longrepr)).strip().splitlines()
            result = ("failed", text[0][:300] if text else "")
        elif c and c.warnings:
            result = ("warning", "; ".join(c.warnings))
        else:
            result = ("passed", "")
        _results.append({
            "module": _module_of(item),
            "plan": variant.plan if variant else None,
            "variant": variant.label if variant else "",
            "outcome": result[0],
            "reason": result[1],
            "review": "; ".join(c.reviews) if c else "",
        })


def pytest_terminal_summary(terminalreporter):
    _e2e_terminal_summary(terminalreporter)
    counts = {}
    for r in _results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    if counts:
        terminalreporter.write_line("conformance: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


def pytest_sessionfinish(session):
    path = os.environ.get("OSTIARY_CONFORMANCE_README")
    if path and _results:
        Path(path).write_text(modules.readme(_results))
