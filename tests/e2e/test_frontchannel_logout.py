"""Front-Channel Logout 1.0: a client registers frontchannel_logout_uri (and
frontchannel_logout_session_required); the page shown after a session ended
(/logout without a post_logout_redirect_uri, /account/sessions ending this
browser's session) frames that URI for every client the session served,
with iss and sid in its query when the client asked for them, under a CSP
whose frame-src lists exactly those origins, and without any script.

The relying parties are scripts/webhook_receiver.py pages (on two ports, so
two origins) that record every hit; the test loads each frame's src as the
browser would."""

import html
import importlib.util
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import REPO
from oidc import RP, Browser, code_flow, ctl_json, exchange, forms, make_client, make_user, refused, verify_jwt

_spec = importlib.util.spec_from_file_location("webhook_receiver", REPO / "scripts" / "webhook_receiver.py")
webhook_receiver = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(webhook_receiver)


@pytest.fixture(scope="module")
def rps():
    one = webhook_receiver.Receiver("unused-secret-0123456789").start()
    two = webhook_receiver.Receiver("unused-secret-0123456789").start()
    yield one, two
    one.stop()
    two.stop()


def sign_in(stack, browser, client, username):
    client_id, secret, redirect_uri = client
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, username)
    r = exchange(stack, p["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    return r.json()["id_token"]


def frames(page):
    """(data-client-id, src) of every iframe of the page, unescaped."""
    return [(html.unescape(cid), html.unescape(src)) for cid, src in
            re.findall(r'<iframe class="fcl" title="[^"]*" data-client-id="([^"]*)" src="([^"]*)"></iframe>',
                       page)]


def frame_src(response):
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) if " " in d.strip() else (d.strip(), "")
                      for d in csp.split(";") if d.strip())
    assert "script-src" not in directives and "<script" not in response.text
    return directives.get("frame-src")


def load(browser, src):
    """The browser loads a frame: a GET of its src."""
    r = browser.http.get(src, timeout=10)
    assert r.status_code == 200


def test_discovery_advertises_frontchannel_logout(stack, http):
    doc = http.get(stack.base_url + "/.well-known/openid-configuration", timeout=10).json()
    assert doc["frontchannel_logout_supported"] is True
    assert doc["frontchannel_logout_session_supported"] is True


def test_registration_of_frontchannel_logout(stack):
    for uri in ("https://rp.example/fc#x", "ftp://rp.example/fc", "com.example.app:/fc", "relative"):
        assert refused(stack, "token.client_add", {"redirect_uris": [f"{RP}/cb"],
                                                   "frontchannel_logout_uri": uri}) == "invalid_request"
    assert refused(stack, "token.client_add", {"redirect_uris": [f"{RP}/cb"],
                                               "frontchannel_logout_session_required": True}) == "invalid_request"
    client_id = "ctl-fc-" + secrets.token_hex(3)
    r = stack.ctl("clients", "add", "--id", client_id, "--redirect-uri", f"{RP}/cb",
                  "--frontchannel-logout-uri", f"{RP}/fc", "--frontchannel-logout-session-required")
    assert r.returncode == 0, r.stderr
    shown = ctl_json(stack, "token.client_get", {"client_id": client_id})["client"]
    assert shown["frontchannel_logout_uri"] == f"{RP}/fc"
    assert shown["frontchannel_logout_session_required"] is True


def test_signed_out_page_frames_each_client_with_iss_and_sid_when_required(stack, rps):
    one, two = rps
    p1, p2 = f"/fc/{secrets.token_hex(4)}", f"/fc/{secrets.token_hex(4)}"
    with_sid = make_client(stack, frontchannel_logout_uri=one.url(p1) + "?keep=1",
                           frontchannel_logout_session_required=True)
    plain = make_client(stack, frontchannel_logout_uri=two.url(p2))
    none = make_client(stack)
    user, sub = make_user(stack)
    b = Browser(stack)
    try:
        sign_in(stack, b, none, user)
        sign_in(stack, b, plain, user)
        hint = sign_in(stack, b, with_sid, user)
        _, claims = verify_jwt(stack, hint)
        r = b.http.get(stack.base_url + "/logout", params={"id_token_hint": hint}, allow_redirects=False,
                       timeout=30)
        assert r.status_code == 200 and "signed out" in r.text
        got = frames(r.text)
        # One frame per client with a URI, in the order the session served them.
        assert [cid for cid, _ in got] == [plain[0], with_sid[0]], got
        src_plain, src_sid = got[0][1], got[1][1]
        assert src_plain == two.url(p2)
        parts = urlsplit(src_sid)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == one.url(p1)
        assert parse_qs(parts.query) == {"keep": ["1"], "iss": [stack.base_url], "sid": [claims["sid"]]}
        # frame-src admits exactly the two origins, nothing else.
        assert sorted(frame_src(r).split()) == sorted([one.url("").rstrip("/"), two.url("").rstrip("/")])
        for _, src in got:
            load(b, src)
        hits = [h for h in one.requests if h["path"].startswith(p1)]
        assert len(hits) == 1 and hits[0]["method"] == "GET"
        assert parse_qs(urlsplit(hits[0]["path"]).query)["sid"] == [claims["sid"]]
        assert len([h for h in two.requests if h["path"] == p2]) == 1
    finally:
        b.close()


def test_page_without_frontchannel_clients_frames_nothing(stack):
    client = make_client(stack)
    user, _ = make_user(stack)
    b = Browser(stack)
    try:
        hint = sign_in(stack, b, client, user)
        r = b.http.get(stack.base_url + "/logout", params={"id_token_hint": hint}, allow_redirects=False,
                       timeout=30)
        assert r.status_code == 200 and frames(r.text) == []
        assert frame_src(r) is None
    finally:
        b.close()


def test_ending_this_browsers_session_from_the_account_page_frames_its_clients(stack, rps):
    one, _ = rps
    path = f"/fc/{secrets.token_hex(4)}"
    client = make_client(stack, frontchannel_logout_uri=one.url(path), frontchannel_logout_session_required=True)
    user, _ = make_user(stack)
    b = Browser(stack)
    try:
        _, claims = verify_jwt(stack, sign_in(stack, b, client, user))
        page = b.http.get(stack.base_url + "/account/sessions", timeout=10)
        form = next(f for f in forms(page.text) if f["fields"].get("sid") == claims["sid"])
        r = b.http.post(html.unescape(form["action"]), data=form["fields"], allow_redirects=False, timeout=10)
        assert r.status_code == 200 and "signed out" in r.text
        got = frames(r.text)
        assert [cid for cid, _ in got] == [client[0]]
        assert parse_qs(urlsplit(got[0][1]).query)["sid"] == [claims["sid"]]
        assert frame_src(r) == one.url("").rstrip("/")
        load(b, got[0][1])
        assert len([h for h in one.requests if h["path"].startswith(path)]) == 1
    finally:
        b.close()


def test_logout_with_a_post_logout_redirect_frames_first_then_goes_there(stack, rps):
    one, _ = rps
    path = f"/fc/{secrets.token_hex(4)}"
    client = make_client(stack, frontchannel_logout_uri=one.url(path), frontchannel_logout_session_required=True,
                         post_logout_redirect_uris=[f"{RP}/bye"])
    user, _ = make_user(stack)
    b = Browser(stack)
    try:
        hint = sign_in(stack, b, client, user)
        _, claims = verify_jwt(stack, hint)
        r = b.http.get(stack.base_url + "/logout", params={"id_token_hint": hint, "state": "s t&1",
                                                           "post_logout_redirect_uri": f"{RP}/bye"},
                       allow_redirects=False, timeout=30)
        # A page instead of the 302: it frames the client, then goes on by
        # itself (a refresh, no script), with a link as well.
        assert r.status_code == 200 and "Location" not in r.headers
        target = f"{RP}/bye?state=s%20t%261"
        refresh = re.search(r'<meta http-equiv="refresh" content="([^"]*)">', r.text)
        assert refresh and html.unescape(refresh.group(1)) == f"1;url={target}"
        link = re.search(r'<a class="button" id="continue" href="([^"]*)">', r.text)
        assert link and html.unescape(link.group(1)) == target
        got = frames(r.text)
        assert [cid for cid, _ in got] == [client[0]]
        assert parse_qs(urlsplit(got[0][1]).query)["sid"] == [claims["sid"]]
        assert frame_src(r) == one.url("").rstrip("/")
        load(b, got[0][1])
        assert len([h for h in one.requests if h["path"].startswith(path)]) == 1
    finally:
        b.close()
