"""scripts/pg.sh init: OSTIARY_PG_SETTINGS adds checked server settings to the
cluster's ostiary.conf (bench/ab.sh measures commit_delay with it)."""
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def place():
    # The postgres user must reach the cluster folder (pytest's tmp_path is
    # root's alone): a folder of its own under /var/tmp, as scripts/test.sh does.
    path = pathlib.Path(tempfile.mkdtemp(prefix="ostiary-pgsh.", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    subprocess.run([str(ROOT / "scripts/pg.sh"), "stop", str(path / "pg")], capture_output=True, timeout=120)
    shutil.rmtree(path, ignore_errors=True)


def _init(tmp_path, settings):
    folder = tmp_path / "pg"
    env = dict(os.environ, OSTIARY_PG_FAST="1", OSTIARY_PG_SETTINGS=settings)
    return folder, subprocess.run([str(ROOT / "scripts/pg.sh"), "init", str(folder), "55999"], env=env,
                                  capture_output=True, text=True, timeout=300)


def test_settings_land_in_the_clusters_conf(place):
    folder, run = _init(place, "commit_delay=200;commit_siblings=1")
    assert run.returncode == 0, run.stderr
    conf = (folder / "data" / "ostiary.conf").read_text()
    assert "commit_delay = 200\n" in conf and "commit_siblings = 1\n" in conf


def test_a_malformed_setting_is_refused_before_any_cluster_exists(place):
    folder, run = _init(place, "commit_delay=200;fsync=off';shared_preload_libraries=x")
    assert run.returncode != 0
    assert "OSTIARY_PG_SETTINGS: 'fsync=off'' is not name=value" in run.stderr
    assert not (folder / "data").exists()
