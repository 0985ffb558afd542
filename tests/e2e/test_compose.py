"""The deployment descriptions: docker-compose.yml (validated by Debian's
docker-compose 1.29, no engine needed), the Dockerfile and deploy/k8s."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
PROCESSES = ("gateway", "token-svc", "flow-svc", "keys-svc")
COMPOSE_ENV = {
    "OSTIARY_ISSUER": "https://id.example.com",
    "OSTIARY_KEK": "A" * 43,
    "OSTIARY_CLIENT_SECRET_KEY": "B" * 43,
    "OSTIARY_FLOW_SECRET_KEY": "C" * 43,
    "POSTGRES_PASSWORD": "pg-secret",
    "OSTIARY_TOKEN_DB_PASSWORD": "token-secret",
    "OSTIARY_FLOW_DB_PASSWORD": "flow-secret",
    "OSTIARY_KEYS_DB_PASSWORD": "keys-secret",
}


def compose(*args, env_extra=None):
    if not shutil.which("docker-compose"):
        pytest.skip("docker-compose is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSTIARY_", "POSTGRES_", "COMPOSE_"))}
    env.update(env_extra if env_extra is not None else COMPOSE_ENV)
    return subprocess.run(["docker-compose", "-f", str(REPO / "docker-compose.yml"), *args],
                          cwd=str(REPO), env=env, text=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def compose_config():
    r = compose("config")
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def test_compose_file_is_valid():
    r = compose("config", "-q")
    assert r.returncode == 0, r.stderr


def test_compose_refuses_to_run_without_its_secrets():
    r = compose("config", "-q", env_extra={})
    assert r.returncode != 0


def test_compose_describes_every_process(compose_config):
    services = compose_config["services"]
    for name in ("postgres",) + PROCESSES:
        assert name in services, name
    assert services["postgres"]["image"].startswith("postgres:15")


def test_compose_runs_two_token_replicas(compose_config):
    token = compose_config["services"]["token-svc"]
    replicas = token.get("deploy", {}).get("replicas", token.get("scale"))
    assert replicas == 2


def test_compose_wires_the_bus_and_databases(compose_config):
    services = compose_config["services"]
    gw = services["gateway"]["environment"]
    assert gw["OSTIARY_BUS_ENDPOINT"].startswith("tcp://0.0.0.0:")
    assert gw["OSTIARY_ISSUER"] == COMPOSE_ENV["OSTIARY_ISSUER"]
    published = [str(p.get("target", p)) if isinstance(p, dict) else str(p)
                 for p in services["gateway"].get("ports", [])]
    assert any(p.endswith("8080") for p in published)
    for name, role in (("token-svc", "ostiary_token"), ("flow-svc", "ostiary_flow"),
                       ("keys-svc", "ostiary_keys")):
        env = services[name]["environment"]
        assert env["OSTIARY_BUS_ENDPOINT"] == "tcp://gateway:5555"
        assert f"user={role}" in env["OSTIARY_DB"]
        assert "postgres" in services[name]["depends_on"]
    assert services["keys-svc"]["environment"]["OSTIARY_KEK"] == COMPOSE_ENV["OSTIARY_KEK"]
    # Each secret key reaches one process only.
    assert services["token-svc"]["environment"]["OSTIARY_CLIENT_SECRET_KEY"] == \
        COMPOSE_ENV["OSTIARY_CLIENT_SECRET_KEY"]
    for name in PROCESSES:
        env = services[name]["environment"]
        assert ("OSTIARY_KEK" in env) == (name == "keys-svc")
        assert ("OSTIARY_CLIENT_SECRET_KEY" in env) == (name == "token-svc")


def test_compose_wires_token_svc_to_keys_svc_direct_endpoint(compose_config):
    services = compose_config["services"]
    bind = services["keys-svc"]["environment"]["OSTIARY_BUS_DIRECT_BIND"]
    assert bind.startswith("tcp://0.0.0.0:")
    port = bind.rsplit(":", 1)[1]
    assert port in [str(p) for p in services["keys-svc"].get("expose", [])]
    assert not services["keys-svc"].get("ports"), "the direct port must not be published"
    assert services["token-svc"]["environment"]["OSTIARY_BUS_DIRECT"] == f"keys=tcp://keys-svc:{port}"
    # Only keys-svc binds one; nobody else goes direct.
    for name in ("gateway", "flow-svc"):
        env = services[name]["environment"]
        assert "OSTIARY_BUS_DIRECT_BIND" not in env and "OSTIARY_BUS_DIRECT" not in env


def test_compose_services_have_healthchecks(compose_config):
    for name in ("postgres",) + PROCESSES:
        assert "healthcheck" in compose_config["services"][name], name


def test_compose_settings_are_known_to_the_config_table(compose_config):
    known = set(re.findall(r'"(OSTIARY_[A-Z_]+)"', (REPO / "common" / "config.def").read_text()))
    for name in PROCESSES:
        for var in compose_config["services"][name]["environment"]:
            assert var in known, f"{name}: {var} is not in common/config.def"


def test_dockerfile_builds_in_stages_and_runs_as_non_root():
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) >= 2 and all(s.startswith("debian:12") for s in stages)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and not users[-1].startswith(("root", "0"))
    assert "migrations" in text


def k8s_objects():
    objects = []
    for path in sorted((REPO / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objects.append(doc)
    return objects


def test_k8s_manifests_describe_every_process():
    objects = k8s_objects()
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert set(deployments) == set(PROCESSES)
    assert deployments["token-svc"]["spec"]["replicas"] == 2
    assert deployments["gateway"]["spec"]["replicas"] == 1
    for name, d in deployments.items():
        spec = d["spec"]
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
        container = spec["template"]["spec"]["containers"][0]
        assert container["command"] == [name]
        assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        # A read-only root needs a writable /tmp for runtime files.
        if container["securityContext"].get("readOnlyRootFilesystem"):
            assert any(m["mountPath"] == "/tmp" for m in container.get("volumeMounts", []))


def test_k8s_services_and_references():
    objects = k8s_objects()
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    assert {"ostiary-http", "ostiary-bus"} <= set(by_kind["Service"])
    assert by_kind["Service"]["ostiary-bus"]["spec"]["ports"][0]["port"] == 5555
    config = by_kind["ConfigMap"]["ostiary-config"]["data"]
    assert config["OSTIARY_BUS_ENDPOINT"] == "tcp://ostiary-bus:5555"
    deployments = by_kind["Deployment"]
    for name in PROCESSES:
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert {"configMapRef": {"name": "ostiary-config"}} in container["envFrom"]
        secrets = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
                   for e in container.get("env", []) if "valueFrom" in e}
        if name == "gateway":
            assert not secrets
        else:
            assert secrets["OSTIARY_DB"] == "ostiary-db"
        assert ("OSTIARY_KEK" in secrets) == (name == "keys-svc")
        assert ("OSTIARY_CLIENT_SECRET_KEY" in secrets) == (name == "token-svc")


def test_k8s_token_svc_reaches_keys_svc_direct_endpoint():
    objects = k8s_objects()
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    direct = services["ostiary-keys-direct"]["spec"]
    assert direct["selector"] == {"app.kubernetes.io/name": "keys-svc"}
    assert direct.get("type", "ClusterIP") == "ClusterIP"
    port = direct["ports"][0]["port"]

    def env(name):
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        return container, {e["name"]: e.get("value") for e in container.get("env", [])}

    keys, keys_env = env("keys-svc")
    assert keys_env["OSTIARY_BUS_DIRECT_BIND"] == f"tcp://0.0.0.0:{port}"
    assert {"name": "direct", "containerPort": port} in keys["ports"]
    _, token_env = env("token-svc")
    assert token_env["OSTIARY_BUS_DIRECT"] == f"keys=tcp://ostiary-keys-direct:{port}"
    # Only token-svc pods may reach keys-svc, and only on that port (the bus
    # is not authenticated yet).
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"
                and o["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "keys-svc"}]
    assert len(policies) == 1
    spec = policies[0]["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "token-svc"}}}],
                                "ports": [{"protocol": "TCP", "port": port}]}]


def test_readme_configuration_reference_is_current():
    r = subprocess.run([str(REPO / "scripts" / "config-doc.sh"), "--check"], text=True,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
