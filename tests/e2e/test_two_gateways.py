"""Two gateways: each gateway hosts a broker, and a service given a list of
broker endpoints (OSTIARY_BUS_ENDPOINT=a,b) registers with every one of them,
so either gateway answers and losing one loses nothing."""

import base64
import concurrent.futures

import pytest
import requests

import oidc
from conftest import free_port
from lifecycle import Client
from test_bus_security import broker_workers


def cc_token(base_url, client, timeout=5):
    """Status of a client_credentials request to the gateway at base_url (0: no connection)."""
    raw = f"{client.id}:{client.secret}".encode()
    try:
        with requests.Session() as s:
            s.trust_env = False
            r = s.post(base_url + "/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": "Basic " + base64.b64encode(raw).decode()}, timeout=timeout)
            return r.status_code
    except requests.RequestException:
        return 0


def ready(base_url):
    try:
        return requests.get(base_url + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def second(stack):
    """A second gateway (same issuer, as behind a load balancer) and one
    replica of each service registered with both brokers."""
    http_port, bus_port = free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    bus = f"tcp://127.0.0.1:{bus_port}"
    gateway = stack.start("gateway", extra_env={"OSTIARY_HTTP_LISTEN": f"127.0.0.1:{http_port}",
                                                "OSTIARY_BUS_ENDPOINT": bus})
    both = f"{stack.bus_endpoint},{bus}"
    services = [stack.start(name, extra_env={"OSTIARY_BUS_ENDPOINT": both})
                for name in ("token-svc", "flow-svc", "keys-svc")]
    try:
        assert oidc.wait_until(lambda: ready(base), 30), stack.log_text("gateway")[-3000:]
        gateway.base_url = base
        gateway.bus_endpoint = bus
        yield gateway, services
    finally:
        for inst in [gateway, *services]:
            if inst.alive():
                inst.terminate()
        for inst in [gateway, *services]:
            try:
                inst.wait(15)
            except Exception:
                inst.kill()


def test_a_service_registers_with_every_broker_and_either_gateway_answers(stack, second):
    gateway, services = second
    cc = Client(stack, grant_types=["client_credentials"], redirect_uris=[], scopes=["profile"])
    for base in (stack.base_url, gateway.base_url):
        assert [cc_token(base, cc) for _ in range(10)] == [200] * 10, base
    # The replicas with the list run their threads for each broker: the first
    # broker counts them beside the stack's own replicas, the second only them.
    for service in ("token", "flow", "keys"):
        assert broker_workers(stack, service) == 2 * broker_workers(stack, service, gateway.bus_endpoint) > 0, service


def test_losing_one_gateway_loses_no_request_sent_to_the_other(stack, second):
    gateway, _ = second
    cc = Client(stack, grant_types=["client_credentials"], redirect_uris=[], scopes=["profile"])
    first = stack.instances("gateway")[0]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(cc_token, gateway.base_url, cc) for _ in range(200)]
        # Kill the first gateway while those are being answered.
        assert oidc.wait_until(lambda: sum(f.done() for f in futures) >= 20, 30)
        first.kill()  # SIGKILL: its broker and its workers' connections go with it
        first.wait(10)
        statuses = [f.result() for f in futures]
    assert statuses == [200] * len(statuses), sorted(set(statuses))


def test_a_gateway_refuses_a_list_of_endpoints_with_exit_2(stack):
    inst = stack.start("gateway", extra_env={"OSTIARY_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
                                             "OSTIARY_BUS_ENDPOINT": f"{stack.bus_endpoint},tcp://127.0.0.1:1"})
    assert inst.wait(10) == 2
    assert "OSTIARY_BUS_ENDPOINT must be the one endpoint" in inst.log_path.read_text()


@pytest.mark.parametrize("endpoints", ["tcp://127.0.0.1:1,", " , ", ",tcp://127.0.0.1:1",
                                       "tcp://127.0.0.1:1,http://127.0.0.1:2"])
def test_a_service_refuses_a_malformed_list_with_exit_2(stack, endpoints):
    inst = stack.start("token-svc", extra_env={"OSTIARY_BUS_ENDPOINT": endpoints})
    assert inst.wait(10) == 2
    assert "OSTIARY_BUS_ENDPOINT must be a tcp://, ipc:// or inproc:// endpoint, or a comma-separated list" \
        in inst.log_path.read_text()
