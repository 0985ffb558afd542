"""deploy/k8s as Kubernetes would receive it: the base and both overlays
rendered by `kubectl kustomize` (offline), then checked object by object."""

import functools
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
TARGETS = ("base", "overlays/dev", "overlays/production")
WORKLOADS = ("Deployment", "StatefulSet")


@functools.lru_cache(maxsize=None)
def _render(target):
    r = subprocess.run(["kubectl", "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def render(target):
    """The objects kustomize makes of target (each target rendered once)."""
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed (scripts/deps.sh installs kubernetes-client)")
    rc, out, err = _render(target)
    assert rc == 0, err
    return [o for o in yaml.safe_load_all(out) if o]


@pytest.fixture(scope="module", params=TARGETS)
def rendered(request):
    return request.param, render(request.param)


def workloads(objects):
    return [o for o in objects if o["kind"] in WORKLOADS]


def pod_labels(w):
    return w["spec"]["template"]["metadata"]["labels"]


def selects(selector, labels):
    assert not selector.get("matchExpressions"), "matchExpressions are not understood by this test"
    return selector.get("matchLabels", {}).items() <= labels.items()


def test_every_container_has_probes_limits_and_a_locked_down_context(rendered):
    _, objects = rendered
    assert {w["metadata"]["name"] for w in workloads(objects)} == {"gateway", "token-svc", "flow-svc", "keys-svc"}
    for w in workloads(objects):
        pod = w["spec"]["template"]["spec"]
        name = w["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        # No process talks to the Kubernetes API.
        assert pod.get("automountServiceAccountToken") is False, name
        for c in pod.get("initContainers", []) + pod["containers"]:
            where = f"{name}/{c['name']}"
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in c, f"{where}: no {probe}"
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{where}: {kind} {res}"
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where


def test_token_svc_is_autoscaled_on_cpu(rendered):
    _, objects = rendered
    hpas = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert len(hpas) == 1
    spec = hpas[0]["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "token-svc"}
    assert [m["resource"]["name"] for m in spec["metrics"] if m["type"] == "Resource"] == ["cpu"]
    assert 1 <= spec["minReplicas"] < spec["maxReplicas"]
    # Utilization is a share of the request: the target must have one.
    token = next(w for w in workloads(objects) if w["metadata"]["name"] == "token-svc")
    assert token["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]


def test_no_secret_value_is_inline(rendered):
    _, objects = rendered
    assert not [o for o in objects if o["kind"] == "Secret"], "Secrets are made by the operator, never shipped"
    for w in workloads(objects):
        for c in w["spec"]["template"]["spec"]["containers"]:
            for e in c.get("env", []):
                if any(word in e["name"] for word in ("KEY", "KEK", "PASSWORD", "SECRET", "OSTIARY_DB")) \
                        and e["name"] != "OSTIARY_BUS_CERT":
                    assert "value" not in e and "secretKeyRef" in e.get("valueFrom", {}), \
                        f"{w['metadata']['name']}: {e['name']} is inline"
    for cm in (o for o in objects if o["kind"] == "ConfigMap"):
        for k in cm.get("data", {}):
            assert not any(word in k for word in ("KEY", "KEK", "PASSWORD", "SECRET")), k


def test_every_workload_has_a_network_policy_and_a_disruption_budget(rendered):
    _, objects = rendered
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    for w in workloads(objects):
        labels = pod_labels(w)
        name = w["metadata"]["name"]
        types = {t for p in policies if selects(p["spec"]["podSelector"], labels)
                 for t in p["spec"]["policyTypes"]}
        assert types == {"Ingress", "Egress"}, f"{name}: policies cover {types}"
        budgets = [p for p in pdbs if selects(p["spec"]["selector"], labels)]
        assert len(budgets) == 1, f"{name}: {len(budgets)} PodDisruptionBudgets"
        spec = budgets[0]["spec"]
        replicas = w["spec"].get("replicas", 1)
        # A budget that can never be met blocks every node drain.
        if "minAvailable" in spec:
            assert spec["minAvailable"] < replicas, name
        else:
            assert spec["maxUnavailable"] >= 1, name


def egress_ports(objects, labels):
    """(port, peers) allowed out of pods with these labels; peers None = anywhere."""
    out = []
    for p in objects:
        if p["kind"] != "NetworkPolicy" or not selects(p["spec"]["podSelector"], labels):
            continue
        if "Egress" not in p["spec"]["policyTypes"]:
            continue
        for rule in p["spec"].get("egress") or []:
            assert rule.get("ports"), f"{p['metadata']['name']}: an egress rule without ports"
            for port in rule["ports"]:
                out.append((port["port"], rule.get("to")))
    return out


def test_network_policies_allow_exactly_the_bus_and_database_paths(rendered):
    _, objects = rendered
    by_name = {w["metadata"]["name"]: w for w in workloads(objects)}

    def reached(src, port):
        """The workloads src may connect to on port (None: any address)."""
        names = set()
        for p, peers in egress_ports(objects, pod_labels(by_name[src])):
            if p != port:
                continue
            if peers is None:
                return None
            for peer in peers:
                assert set(peer) == {"podSelector"}, peer
                names |= {n for n, w in by_name.items() if selects(peer["podSelector"], pod_labels(w))}
        return names

    for svc in ("token-svc", "flow-svc", "keys-svc"):
        assert reached(svc, 5555) == {"gateway"}, svc
        assert reached(svc, 5432) is None, svc  # the database lives outside the namespace
    assert reached("token-svc", 5557) == {"keys-svc"}
    assert reached("flow-svc", 5557) == set() and reached("keys-svc", 5557) == set()
    gateway_ports = {p for p, _ in egress_ports(objects, pod_labels(by_name["gateway"]))}
    assert gateway_ports == {53}, "the gateway connects to nothing but DNS"
    assert 5432 not in {p for p, _ in egress_ports(objects, pod_labels(by_name["gateway"]))}


def test_overlays_differ_where_they_should():
    dev = {(o["kind"], o["metadata"]["name"]): o for o in render("overlays/dev")}
    prod = {(o["kind"], o["metadata"]["name"]): o for o in render("overlays/production")}
    assert dev[("ConfigMap", "ostiary-config")]["data"]["OSTIARY_MODE"] == "development"
    assert prod[("ConfigMap", "ostiary-config")]["data"]["OSTIARY_MODE"] == "production"
    assert prod[("ConfigMap", "ostiary-config")]["data"]["OSTIARY_ISSUER"].startswith("https://")
    assert {o["metadata"].get("namespace") for o in dev.values()} == {"ostiary-dev"}
    assert {o["metadata"].get("namespace") for o in prod.values()} == {"ostiary"}
    assert prod[("HorizontalPodAutoscaler", "token-svc")]["spec"]["minReplicas"] >= 2
    image = prod[("StatefulSet", "gateway")]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image != "ostiary:latest" and not image.endswith(":latest"), image
    # The gateways stay two everywhere: OSTIARY_BUS_ENDPOINT names both.
    for objs in (dev, prod):
        assert objs[("StatefulSet", "gateway")]["spec"]["replicas"] == 2


# Secret settings the manifests leave out on purpose: the demo relying party
# runs only in development mode (`make run`), never in a cluster.
NOT_DEPLOYED = {"OSTIARY_DEMO_CLIENT_SECRET"}


def test_every_secret_setting_reaches_its_process_from_a_secret():
    """Each setting common/config.def marks CFG_SECRET is given to some
    workload from a Secret (the console's key too), but for NOT_DEPLOYED."""
    import re
    secrets = set(re.findall(r'^CFG \(\w+,\s*"(OSTIARY_\w+)",[^\n]*CFG_SECRET',
                             (REPO / "common" / "config.def").read_text(), re.M))
    assert {"OSTIARY_KEK", "OSTIARY_CONSOLE_KEY"} <= secrets, secrets
    given = set()
    for w in workloads(render("base")):
        for c in w["spec"]["template"]["spec"]["containers"]:
            given |= {e["name"] for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    assert secrets - NOT_DEPLOYED <= given, f"not given from a Secret: {sorted(secrets - NOT_DEPLOYED - given)}"
