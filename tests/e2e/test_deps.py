"""scripts/deps.sh: each make target installs its own set of Debian packages,
and the set of `make test` (what CI installs) covers everything the tests use."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPS = REPO / "scripts" / "deps.sh"
E2E = REPO / "tests" / "e2e"

# Packages only tests, benchmarks or images use: `make run` must not install them.
NOT_FOR_RUN = {"python3-pytest", "python3-selenium", "chromium", "chromium-driver", "apache2",
               "libapache2-mod-auth-openidc", "docker-compose", "wrk", "podman", "debootstrap",
               "clang", "kubernetes-client", "prometheus"}


def deps(*args):
    r = subprocess.run([str(DEPS), *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def packages(target):
    return set(deps("list", target).split())


def probes(target):
    return [line.split(None, 1) for line in deps("probes", target).splitlines()]


def test_make_run_installs_no_test_or_bench_package():
    run = packages("run")
    assert "postgresql-15" in run and "libczmq-dev" in run
    assert not run & NOT_FOR_RUN, sorted(run & NOT_FOR_RUN)


def test_each_target_set_contains_the_run_set_and_its_own():
    run = packages("run")
    assert run <= packages("test") and run <= packages("bench")
    assert {"python3-pytest", "chromium", "python3-selenium", "apache2", "podman", "clang"} <= packages("test")
    assert "wrk" in packages("bench") and "wrk" not in packages("test")
    assert packages("all") == packages("test") | packages("bench")


def test_unknown_target_is_a_usage_error():
    r = subprocess.run([str(DEPS), "list", "nonsense"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown target" in r.stderr


def third_party_imports():
    local = {p.stem for p in E2E.glob("*.py")} | {p.stem for p in (REPO / "scripts").glob("*.py")}
    found = set()
    for path in E2E.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.add(top)
    return found


def test_every_python_module_the_tests_import_is_installed_by_make_test():
    checked = {what[3:] for _, what in probes("test") if what.startswith("py:")}
    missing = third_party_imports() - checked
    assert not missing, f"imported by tests/e2e but not installed by `make test`: {sorted(missing)}"


# A program a test looks up, and the package of the test set that brings it
# when it is not that package's own probe.
PROGRAM_FROM = {"psql": "postgresql-15", "prometheus": "prometheus", "make": "make"}


def test_every_program_the_tests_look_up_is_installed_by_make_test():
    wanted = set()
    for path in E2E.glob("*.py"):
        wanted |= set(re.findall(r'shutil\.which\("([^"]+)"\)', path.read_text()))
    checked = {what[4:] for _, what in probes("test") if what.startswith("cmd:")}
    test_set = packages("test")
    missing = {p for p in wanted if p not in checked and PROGRAM_FROM.get(p) not in test_set}
    assert not missing, f"looked up by tests/e2e but not installed by `make test`: {sorted(missing)}"


def test_readme_package_table_is_current():
    r = subprocess.run([str(DEPS), "readme", "--check"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_install_names_only_missing_packages_and_never_one_dpkg_has(tmp_path):
    """With every probe of the test set satisfied, install does nothing; the
    apt-get it would call is a stub that records its arguments."""
    if os.geteuid() != 0:
        pytest.skip("install's path is taken as root")
    log = tmp_path / "apt.log"
    stub = tmp_path / "apt-get"
    stub.write_text(f"#!/bin/sh\necho \"$@\" >>{log}\n")
    stub.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    r = subprocess.run([str(DEPS), "install", "run"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "everything 'run' needs is installed" in r.stdout
    assert not log.exists(), log.read_text()
