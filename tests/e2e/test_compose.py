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
    # Two gateways, each its own broker; every service registers with both.
    gw2 = services["gateway-2"]
    assert gw2["environment"]["OSTIARY_BUS_ENDPOINT"] == gw["OSTIARY_BUS_ENDPOINT"]
    assert gw2["command"] == ["gateway"]
    published2 = [str(p.get("published", p)) if isinstance(p, dict) else str(p) for p in gw2.get("ports", [])]
    assert published2 and published2 != published
    for name, role in (("token-svc", "ostiary_token"), ("flow-svc", "ostiary_flow"),
                       ("keys-svc", "ostiary_keys")):
        env = services[name]["environment"]
        # By the gateways' fixed addresses on the compose network.
        addresses = [services[g]["networks"]["default"]["ipv4_address"] for g in ("gateway", "gateway-2")]
        assert env["OSTIARY_BUS_ENDPOINT"] == ",".join(f"tcp://{a}:5555" for a in addresses)
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
    # The bases are build arguments (make image gives a local Debian 12);
    # their defaults are the registry's Debian 12 images.
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    stages = [re.sub(r"^\$\{(\w+)\}$", lambda m: args[m.group(1)], s)
              for s in re.findall(r"^FROM\s+(\S+)", text, re.M)]
    assert len(stages) >= 2 and all(s.startswith("debian:12") for s in stages), stages
    # No compiler in the runtime stage.
    runtime = text[text.rindex("\nFROM"):]
    assert not re.search(r"\b(gcc|make|libc6-dev|-dev)\b", runtime), "a build tool in the runtime stage"
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and not users[-1].startswith(("root", "0"))
    assert "migrations" in text


def k8s_objects():
    """The objects of the kustomize base (deploy/k8s/base, its files as they are)."""
    base = REPO / "deploy" / "k8s" / "base"
    names = yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    objects = []
    for name in names:
        for doc in yaml.safe_load_all((base / name).read_text()):
            if doc:
                objects.append(doc)
    return objects


def test_k8s_manifests_describe_every_process():
    objects = k8s_objects()
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] in ("Deployment", "StatefulSet")}
    assert set(deployments) == set(PROCESSES)
    assert deployments["token-svc"]["spec"]["replicas"] == 2
    # Two gateways, each a broker with a stable name the services list.
    gateway = deployments["gateway"]
    assert gateway["kind"] == "StatefulSet" and gateway["spec"]["replicas"] == 2
    assert gateway["spec"]["serviceName"] == "ostiary-bus"
    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert any(p["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "gateway"}
               and p["spec"].get("minAvailable") == 1 for p in pdbs)
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
    bus = by_kind["Service"]["ostiary-bus"]["spec"]
    assert bus["clusterIP"] == "None" and bus["publishNotReadyAddresses"] is True
    replicas = by_kind["StatefulSet"]["gateway"]["spec"]["replicas"]
    assert config["OSTIARY_BUS_ENDPOINT"].split(",") == [f"tcp://gateway-{i}.ostiary-bus:5555"
                                                         for i in range(replicas)]
    deployments = {**by_kind["Deployment"], **by_kind["StatefulSet"]}
    for name in PROCESSES:
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert {"configMapRef": {"name": "ostiary-config"}} in container["envFrom"]
        secrets = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
                   for e in container.get("env", []) if "valueFrom" in e}
        if name == "gateway":
            # Only the console's cookie key (an optional Secret).
            assert secrets == {"OSTIARY_CONSOLE_KEY": "ostiary-console-key"}
        else:
            assert secrets["OSTIARY_DB"] == "ostiary-db"
        assert ("OSTIARY_KEK" in secrets) == (name == "keys-svc")
        assert ("OSTIARY_CLIENT_SECRET_KEY" in secrets) == (name == "token-svc")


def test_k8s_token_svc_reaches_keys_svc_direct_endpoint():
    objects = k8s_objects()
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] in ("Deployment", "StatefulSet")}
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
    # Only token-svc pods may reach keys-svc, and only on that port (CURVE
    # authenticates the peers too; the policy keeps the others off the port).
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"
                and o["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "keys-svc"}
                and "Ingress" in o["spec"]["policyTypes"]]
    assert len(policies) == 1
    spec = policies[0]["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "token-svc"}}}],
                                "ports": [{"protocol": "TCP", "port": port}]}]


# ------------------------------------------------------------ bus keys (CurveZMQ)

BUS_ROLES = {"gateway": "gateway", "token-svc": "token", "flow-svc": "flow", "keys-svc": "keys"}
ALL_BUS_ROLES = ("gateway", "token", "flow", "keys", "admin")
# Compose runs a second gateway with the same role (and key) as the first.
COMPOSE_BUS_ROLES = {**BUS_ROLES, "gateway-2": "gateway"}
# The environment's secrets that are not bus keys (they are handled elsewhere).
NON_BUS_ENV_SECRETS = {"OSTIARY_KEK", "OSTIARY_CLIENT_SECRET_KEY", "OSTIARY_FLOW_SECRET_KEY"}
Z85_RUN = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40,}")


def service_secrets(service):
    return [s["source"] if isinstance(s, dict) else s for s in service.get("secrets", [])]


def service_mounts(service):
    """(source, target, read_only) of each volume of a parsed compose service."""
    mounts = []
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            mounts.append((v.get("source"), v["target"], bool(v.get("read_only"))))
        else:
            parts = v.split(":")
            mounts.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return mounts


def bus_key_secrets(config):
    """role -> name of the top-level secret holding that role's bus key."""
    found = {}
    for name, secret in config.get("secrets", {}).items():
        base = os.path.basename(secret.get("file", ""))
        if base.endswith(".key") and base[:-4] in ALL_BUS_ROLES:
            assert base[:-4] not in found, f"two secrets hold {base}"
            found[base[:-4]] = name
    return found


def test_compose_gives_each_process_only_its_own_bus_key(compose_config):
    services = compose_config["services"]
    keys = bus_key_secrets(compose_config)
    assert set(keys) == set(ALL_BUS_ROLES)
    owner = {name: role for role, name in keys.items()}
    for name, role in COMPOSE_BUS_ROLES.items():
        service = services[name]
        env = service["environment"]
        assert env["OSTIARY_BUS_CERT"] == f"/run/secrets/{keys[role]}", name
        assert env.get("OSTIARY_BUS_CURVE", "1") == "1", name
        assert [s for s in service_secrets(service) if s in owner] == [keys[role]], name
        # The public keys of every role, read-only, where OSTIARY_BUS_PEERS says.
        peers = [m for m in service_mounts(service) if m[1] == env["OSTIARY_BUS_PEERS"]]
        assert len(peers) == 1, name
        source, _, read_only = peers[0]
        assert read_only and os.path.basename(source.rstrip("/")) == "peers", name
        assert os.path.dirname(source.rstrip("/")) == os.path.dirname(compose_config["secrets"][keys[role]]["file"])
    # Nobody else holds a service's key: postgres none, the operators' tool the admin one.
    for name, service in services.items():
        if name not in COMPOSE_BUS_ROLES:
            held = [owner[s] for s in service_secrets(service) if s in owner]
            assert held in ([], ["admin"]), f"{name} holds the bus keys of {held}"
            if held:
                assert service["environment"]["OSTIARY_BUS_CERT"] == f"/run/secrets/{keys['admin']}"


def test_compose_bus_keys_folder_is_configurable(tmp_path):
    # docker-compose config does not read the files; make them anyway, as keygen would.
    for role in ALL_BUS_ROLES:
        (tmp_path / f"{role}.key").write_text("fake secret certificate\n")
        (tmp_path / "peers" / role).mkdir(parents=True)
        (tmp_path / "peers" / role / f"{role}.pub").write_text("fake public certificate\n")
    r = compose("config", env_extra=dict(COMPOSE_ENV, OSTIARY_BUS_KEYS_DIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    config = yaml.safe_load(r.stdout)
    keys = bus_key_secrets(config)
    for role in ALL_BUS_ROLES:
        assert config["secrets"][keys[role]]["file"] == str(tmp_path / f"{role}.key")
    for name in COMPOSE_BUS_ROLES:
        sources = [m[0] for m in service_mounts(config["services"][name])]
        assert str(tmp_path / "peers") in sources, name


def test_compose_environment_holds_no_bus_key_material(compose_config):
    for name, service in compose_config["services"].items():
        for var, value in (service.get("environment") or {}).items():
            if var in NON_BUS_ENV_SECRETS:
                continue
            # Bus keys travel as files; the environment names them.
            if "BUS" in var:
                assert not re.search(r"KEY|SECRET|CURVE_(PUBLIC|SERVER)", var), f"{name}: {var}"
            value = str(value)
            for run in Z85_RUN.findall(value):
                assert run.startswith("/") or "://" in run, \
                    f"{name}: {var} holds what looks like a Z85 key: {value!r}"
        if name in COMPOSE_BUS_ROLES:
            assert service["environment"]["OSTIARY_BUS_CERT"].startswith("/run/secrets/")


def deployment_container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_k8s_deployments_mount_only_their_own_bus_key():
    objects = k8s_objects()
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] in ("Deployment", "StatefulSet")}
    config = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}["ostiary-config"]["data"]
    for name, role in BUS_ROLES.items():
        pod = deployments[name]["spec"]["template"]["spec"]
        container = deployment_container(deployments[name])
        env = {e["name"]: e for e in container.get("env", [])}
        mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
        bus_secrets = {v["name"]: v["secret"] for v in pod.get("volumes", [])
                       if "secret" in v and v["secret"]["secretName"].startswith("ostiary-bus")}
        assert [s["secretName"] for s in bus_secrets.values()] == [f"ostiary-bus-{role}"], name
        (volume, secret), = bus_secrets.items()
        assert mounts[volume].get("readOnly") is True, name
        assert secret.get("defaultMode", 0o644) & 0o007 == 0, f"{name}: the key is world-readable"
        # The environment holds the key's path, never the key.
        assert env["OSTIARY_BUS_CERT"] == {"name": "OSTIARY_BUS_CERT",
                                           "value": f"{mounts[volume]['mountPath']}/{role}.key"}, name
        for e in container.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef", {})
            assert not ref.get("name", "").startswith("ostiary-bus"), f"{name}: {e['name']} holds a bus key"
        # Every role's public keys, read-only, under OSTIARY_BUS_PEERS/<role>/.
        peers = env["OSTIARY_BUS_PEERS"]["value"] if "OSTIARY_BUS_PEERS" in env else config["OSTIARY_BUS_PEERS"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for r in ALL_BUS_ROLES:
            mount = [m for m in mounts.values() if m["mountPath"] == f"{peers}/{r}"]
            assert len(mount) == 1 and mount[0].get("readOnly") is True, (name, r)
            assert volumes[mount[0]["name"]]["configMap"]["name"] == f"ostiary-bus-peers-{r}", (name, r)


def selects(selector, labels):
    if selector.get("matchExpressions"):
        raise AssertionError("matchExpressions are not understood by this test")
    return selector.get("matchLabels", {}).items() <= labels.items()


def ingress_peers(objects, labels, port, port_names):
    """The `from` lists of every NetworkPolicy rule that lets traffic to port of
    the pods with these labels ([None]: not isolated, anyone)."""
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"
                and selects(o["spec"]["podSelector"], labels)
                and "Ingress" in o["spec"].get("policyTypes", ["Ingress"])]
    if not policies:
        return [None]
    allowed = []
    for policy in policies:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any("port" not in p or p["port"] == port or port_names.get(p["port"]) == port
                                 or p.get("endPort", -1) >= port >= p.get("port", 0) for p in ports):
                continue
            allowed.append(rule.get("from") or None)
    return allowed


def assert_port_reached_only_by(objects, target, port, allowed_names, extra_selectors=()):
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] in ("Deployment", "StatefulSet")}
    pod_labels = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    port_names = {p["name"]: p["containerPort"] for p in deployment_container(deployments[target]).get("ports", [])
                  if "name" in p}
    sources = ingress_peers(objects, pod_labels[target], port, port_names)
    admitted = set()
    for peers in sources:
        assert peers is not None, f"{target}:{port} is open to anyone"
        for peer in peers:
            assert set(peer) == {"podSelector"}, f"{target}:{port}: {peer} reaches beyond our pods"
            selector = peer["podSelector"]
            assert selector.get("matchLabels"), f"{target}:{port}: every pod of the namespace"
            matched = {n for n, labels in pod_labels.items() if selects(selector, labels)}
            if selector in extra_selectors:
                assert not matched, selector
                continue
            assert matched and matched <= set(allowed_names), f"{target}:{port} admits {matched or selector}"
            admitted |= matched
    assert admitted == set(allowed_names), f"{target}:{port} admits {admitted}"


def test_k8s_network_policies_guard_the_bus_ports():
    objects = k8s_objects()
    assert_port_reached_only_by(objects, "gateway", 5555, ("token-svc", "flow-svc", "keys-svc"),
                                ({"matchLabels": {"app.kubernetes.io/component": "ostiaryctl"}},))
    assert_port_reached_only_by(objects, "keys-svc", 5557, ("token-svc",))
    # The gateway's HTTP port stays open to everyone.
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] in ("Deployment", "StatefulSet")}
    labels = deployments["gateway"]["spec"]["template"]["metadata"]["labels"]
    assert None in ingress_peers(objects, labels, 8080, {"http": 8080})


def test_readme_configuration_reference_is_current():
    r = subprocess.run([str(REPO / "scripts" / "config-doc.sh"), "--check"], text=True,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
