"""The admin API under /admin/api/ (docs/admin/openapi.json): Bearer access
tokens issued to the admin client with the admin scope for a user with the
admin role; 401 without or with an invalid token, 403 for a non-admin's
token; ETag and If-Match on clients and settings (stale: 409, nothing
changed; missing: 428); 400 with a field for bad input. Every response is
validated against the OpenAPI document."""

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import requests

from conftest import ADMIN_CLIENT_ID
from lockout_util import settings  # noqa: F401
from oidc import Browser, code_flow, exchange, make_user

SPEC = json.loads((Path(__file__).resolve().parents[2] / "docs/admin/openapi.json").read_text())
RP = "https://rp.example"


def _schema_for(method, path, status):
    """The response schema of the OpenAPI operation that path (under
    /admin/api) matches; None for a response without a body."""
    for template, item in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            responses = item[method.lower()]["responses"]
            assert str(status) in responses, f"{method} {template}: status {status} is not in the spec"
            response = responses[str(status)]
            if "$ref" in response:
                response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
            content = response.get("content")
            return content["application/json"]["schema"] if content else None
    raise AssertionError(f"{method} {path} is not in the spec")


def check(r):
    """Validates a response of the admin API against the spec; returns it."""
    path = r.request.path_url.split("?")[0][len("/admin/api"):]
    schema = _schema_for(r.request.method, path, r.status_code)
    assert r.headers.get("Cache-Control") == "no-store"
    if schema is None:
        assert not r.content
        return r
    assert r.headers["Content-Type"].startswith("application/json")
    full = dict(schema, components=SPEC["components"])
    jsonschema.validate(r.json(), full, cls=jsonschema.Draft202012Validator)
    return r


class Api:
    def __init__(self, stack, token):
        self.base = stack.base_url + "/admin/api"
        self.s = requests.Session()
        self.s.trust_env = False
        if token:
            self.s.headers["Authorization"] = "Bearer " + token

    def __call__(self, method, path, **kw):
        return check(self.s.request(method, self.base + path, timeout=15, **kw))


@pytest.fixture(scope="module")
def admin_client(stack):
    if stack.ctl("clients", "show", ADMIN_CLIENT_ID).returncode == 0:
        stack.ctl("clients", "remove", ADMIN_CLIENT_ID)
    body = {"client_id": ADMIN_CLIENT_ID, "redirect_uris": ["https://admin.example/cb"],
            "scopes": ["openid", "admin"], "first_party": True}
    r = stack.ctl_for("token.client_add", "call", "token.client_add", json.dumps(body))
    assert r.returncode == 0, r.stderr
    return ADMIN_CLIENT_ID, json.loads(r.stdout)["client_secret"], "https://admin.example/cb"


def token_for(stack, client, admin):
    username, _ = make_user(stack)
    if admin:
        assert stack.ctl("users", "grant-admin", username).returncode == 0
    client_id, secret, redirect = client
    browser = Browser(stack)
    try:
        params, _, resp = code_flow(stack, browser, client_id, redirect, username, scope="openid admin")
    finally:
        browser.close()
    r = exchange(stack, resp["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    return username, r.json()["access_token"]


@pytest.fixture(scope="module")
def admin(stack, admin_client):
    return Api(stack, token_for(stack, admin_client, True)[1])


@pytest.fixture(scope="module")
def non_admin(stack, admin_client):
    return Api(stack, token_for(stack, admin_client, False)[1])


def new_client(admin, **extra):
    body = {"client_id": "api-" + __import__("secrets").token_hex(4),
            "redirect_uris": [f"{RP}/cb"], "grant_types": ["authorization_code"]}
    body.update(extra)
    r = admin("POST", "/clients", json=body)
    assert r.status_code == 201, r.text
    return r.json()["client"], r.headers["ETag"]


def test_without_or_with_a_bad_token_is_401(stack):
    for api in (Api(stack, None), Api(stack, "not.a.token")):
        for method, path in (("GET", "/clients"), ("GET", "/settings"), ("GET", "/clients/x")):
            r = api(method, path)
            assert r.status_code == 401 and r.json()["error"] == "invalid_token"
            assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_non_admin_token_is_403(non_admin):
    for method, path in (("GET", "/clients"), ("GET", "/settings"), ("DELETE", "/clients/x")):
        r = non_admin(method, path)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"


def test_clients_create_get_list_search_and_page(admin):
    made = [new_client(admin, name=f"Paged {i}")[0]["client_id"] for i in range(3)]
    r = admin("GET", f"/clients/{made[0]}")
    assert r.status_code == 200 and r.json()["client_id"] == made[0]
    assert r.headers["ETag"] == '"v1"'
    seen, cursor = [], None
    while True:
        r = admin("GET", "/clients", params={"limit": 2, "q": "Paged", **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        seen += [c["client_id"] for c in r.json()["items"]]
        assert len(r.json()["items"]) <= 2
        cursor = r.json().get("next_cursor")
        if not cursor:
            break
    assert set(made) <= set(seen) and len(seen) == len(set(seen))
    assert admin("GET", "/clients", params={"limit": 0}).json()["field"] == "limit"


def test_client_update_needs_if_match_and_a_stale_one_is_409(admin, stack):
    client, etag = new_client(admin)
    cid = client["client_id"]
    r = admin("PATCH", f"/clients/{cid}", json={"name": "No etag"})
    assert r.status_code == 428
    r = admin("PATCH", f"/clients/{cid}", json={"name": "Renamed"}, headers={"If-Match": etag})
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and r.headers["ETag"] == '"v2"'
    before = subprocess.run(["psql", "-XAt", stack.env["OSTIARY_DB_TOKEN"], "-c",
                             f"SELECT row_to_json(c)::text FROM token.clients c WHERE client_id = '{cid}'"],
                            capture_output=True, text=True, timeout=30).stdout
    r = admin("PATCH", f"/clients/{cid}", json={"name": "Stale"}, headers={"If-Match": etag})
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    after = subprocess.run(["psql", "-XAt", stack.env["OSTIARY_DB_TOKEN"], "-c",
                            f"SELECT row_to_json(c)::text FROM token.clients c WHERE client_id = '{cid}'"],
                           capture_output=True, text=True, timeout=30).stdout
    assert before == after


@pytest.mark.parametrize("change, field", [
    ({"colour": "blue"}, "colour"),
    ({"redirect_uris": ["not a uri"]}, "redirect_uris"),
    ({"redirect_uris": [f"{RP}/cb#fragment"]}, "redirect_uris"),
    ({"refresh_grace": 100000}, "refresh_grace"),
])
def test_bad_input_is_400_with_the_field(admin, change, field):
    client, etag = new_client(admin)
    r = admin("PATCH", f"/clients/{client['client_id']}", json=change, headers={"If-Match": etag})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request" and r.json()["field"] == field
    assert admin("GET", f"/clients/{client['client_id']}").headers["ETag"] == etag


def test_rotate_secret_disable_and_delete(admin):
    client, etag = new_client(admin)
    cid = client["client_id"]
    r = admin("POST", f"/clients/{cid}/secret", json={"overlap_seconds": 60}, headers={"If-Match": etag})
    assert r.status_code == 200 and r.json()["client_secret"] and r.json()["version"] == 2
    r = admin("PATCH", f"/clients/{cid}", json={"disabled": True}, headers={"If-Match": '"v2"'})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert admin("DELETE", f"/clients/{cid}").status_code == 204
    assert admin("GET", f"/clients/{cid}").status_code == 404


def test_settings_get_and_put_with_etag_and_bounds(admin):
    r = admin("GET", "/settings")
    assert r.status_code == 200 and "pkce_required" in {s["name"] for s in r.json()["items"]}
    r = admin("GET", "/settings/pkce_required")
    etag = r.headers["ETag"]
    assert r.status_code == 200 and etag == '"1"'
    assert admin("PUT", "/settings/pkce_required", json={"value": 0}).status_code == 428
    r = admin("PUT", "/settings/pkce_required", json={"value": 5}, headers={"If-Match": etag})
    assert r.status_code == 400 and r.json()["field"] == "value"
    r = admin("PUT", "/settings/pkce_required", json={"value": 0}, headers={"If-Match": etag})
    assert r.status_code == 200 and r.json()["value"] == 0 and r.headers["ETag"] == '"0"'
    r = admin("PUT", "/settings/pkce_required", json={"value": 1}, headers={"If-Match": etag})
    assert r.status_code == 409
    r = admin("PUT", "/settings/pkce_required", json={"value": None}, headers={"If-Match": '"0"'})
    assert r.status_code == 200 and r.json()["value"] == 1


def test_users_create_list_get_disable_unlock_and_password(admin, stack):
    name = "apiuser-" + __import__("secrets").token_hex(3)
    r = admin("POST", "/users", json={"username": name, "password": "correct horse battery staple"})
    assert r.status_code == 201 and r.json()["username"] == name and r.json()["admin"] is False
    r = admin("GET", f"/users/{name}")
    assert r.status_code == 200 and r.json()["username"] == name
    r = admin("GET", "/users", params={"q": name, "limit": 5})
    assert r.status_code == 200 and [u["username"] for u in r.json()["items"]] == [name]
    r = admin("GET", "/users", params={"limit": 1})
    assert r.status_code == 200 and len(r.json()["items"]) == 1 and r.json()["next_cursor"]
    r = admin("POST", f"/users/{name}/unlock", json={})
    assert r.status_code == 200 and r.json()["was_locked"] is False
    r = admin("POST", f"/users/{name}/password", json={"password": "another long passphrase here"})
    assert r.status_code == 200
    r = admin("POST", f"/users/{name}/disable", json={"disabled": True})
    assert r.status_code == 200 and admin("GET", f"/users/{name}").json()["disabled"] is True
    r = admin("POST", f"/users/{name}/disable", json={"disabled": "yes"})
    assert r.status_code == 400 and r.json()["field"] == "disabled"
    assert admin("GET", "/users/no-such-user-here").status_code == 404


def test_flow_settings_through_the_api_with_etag(admin, stack, settings):  # noqa: F811
    r = admin("GET", "/settings")
    names = {s["name"] for s in r.json()["items"]}
    assert {"lockout_threshold", "pkce_required"} <= names
    settings.before.setdefault("lockout_threshold", settings.get("lockout_threshold"))
    r = admin("GET", "/settings/lockout_threshold")
    etag = r.headers["ETag"]
    r = admin("PUT", "/settings/lockout_threshold", json={"value": 7}, headers={"If-Match": etag})
    assert r.status_code == 200 and r.json()["value"] == 7
    r = admin("PUT", "/settings/lockout_threshold", json={"value": 8}, headers={"If-Match": etag})
    assert r.status_code == 409
    assert settings.get("lockout_threshold") == 7
    r = admin("PUT", "/settings/lockout_threshold", json={"value": 100000}, headers={"If-Match": '"7"'})
    assert r.status_code == 400 and r.json()["field"] == "value"


def test_audit_filters_by_event_subject_and_client(admin):
    client, etag = new_client(admin)
    cid = client["client_id"]
    admin("PATCH", f"/clients/{cid}", json={"name": "Audited"}, headers={"If-Match": etag})
    r = admin("GET", "/audit", params={"event": "client_update", "subject": cid})
    assert r.status_code == 200
    events = r.json()["items"]
    assert len(events) == 1 and events[0]["actor"].startswith("admin:")
    assert events[0]["details"]["changed"] == ["name"]
    r = admin("GET", "/audit", params={"client": cid, "since": 0})
    assert {e["event"] for e in r.json()["items"]} >= {"client_add", "client_update"}
    # The client filter reads on through the trail until a page is full,
    # however many other events came first; the cursor goes on from there.
    r = admin("GET", "/audit", params={"client": cid, "since": 0, "limit": 1})
    first = r.json()
    assert [e["event"] for e in first["items"]] == ["client_add"], first
    r = admin("GET", "/audit", params={"client": cid, "limit": 1, "cursor": first["next_cursor"]})
    assert [e["event"] for e in r.json()["items"]] == ["client_update"], r.json()
    r = admin("GET", "/audit", params={"service": "flow", "event": "user_admin", "limit": 5})
    assert r.status_code == 200
    assert admin("GET", "/audit", params={"service": "nope"}).json()["field"] == "service"
