"""Helpers of the admin console's tests (docs/admin/console.md): the admin
client registered as the console (a public client of Ostiary itself), and a
requests session that signs in at /admin through the real login pages."""

import html
import re
from html.parser import HTMLParser

import requests

from conftest import ADMIN_CLIENT_ID
from oidc import PASSWORD, ctl_json, make_user


class _Forms(HTMLParser):
    """The forms of a page with what a browser would send of each: inputs
    (checkboxes only when checked), textareas and selects."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self._textarea = self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"), "fields": {}})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.forms[-1]["fields"][self._textarea] = ""
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select:
            fields = self.forms[-1]["fields"]
            if "selected" in a or self._select not in fields:
                fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            self.forms[-1]["fields"][self._textarea] += data


def forms(text):
    p = _Forms()
    p.feed(text)
    return p.forms


def register_console(stack):
    """The admin client as the console: public, PKCE, <issuer>/admin/callback
    (and the admin API tests' redirect URI), refresh tokens with every code."""
    if stack.ctl("clients", "show", ADMIN_CLIENT_ID).returncode == 0:
        stack.ctl("clients", "remove", ADMIN_CLIENT_ID)
    ctl_json(stack, "token.client_add", {
        "client_id": ADMIN_CLIENT_ID, "name": "Ostiary admin console", "type": "public",
        "token_endpoint_auth_method": "none",
        "redirect_uris": [stack.base_url + "/admin/callback", "https://admin.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"], "always_refresh": True,
        "scopes": ["openid", "admin"], "first_party": True})


def make_admin(stack, admin=True, **fields):
    username, sub = make_user(stack, **fields)
    if admin:
        r = stack.ctl("users", "grant-admin", username)
        assert r.returncode == 0, r.stderr
    return username, sub


class Console:
    """A browser-like session of the console: cookies kept, redirects
    followed by hand (only on the issuer)."""

    def __init__(self, stack, lang=None):
        self.stack = stack
        self.base = stack.base_url
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
        if lang:
            self.http.headers["Accept-Language"] = f"{lang};q=0.9"

    def close(self):
        self.http.close()

    def url(self, path):
        return path if path.startswith("http") else self.base + path

    def get(self, path, **kw):
        return self.http.get(self.url(path), allow_redirects=False, timeout=30, **kw)

    def follow(self, r, hops=10):
        while r.status_code in (302, 303) and hops:
            location = r.headers["Location"]
            assert location.startswith(self.base), location
            r = self.get(location)
            hops -= 1
        return r

    def post(self, path, data, **kw):
        return self.http.post(self.url(path), data=data, allow_redirects=False, timeout=30, **kw)

    def form(self, page, index=0, action=None):
        """The index-th form of page (or the one posting to action): its
        action and fields."""
        found = forms(page.text)
        if action:
            found = [f for f in found if html.unescape(f["action"]).endswith(action)]
        f = found[index]
        return html.unescape(f["action"]), {k: v for k, v in f["fields"].items() if k}

    def submit(self, page, values=None, index=0, action=None, follow=True):
        target, data = self.form(page, index, action)
        data.update(values or {})
        r = self.post(target, data)
        return self.follow(r) if follow else r

    def sign_in(self, username, password=PASSWORD):
        """/admin/login through the login page; returns the console page the
        callback leads to."""
        r = self.follow(self.get("/admin/login"))
        assert "password" in r.text, (r.status_code, r.text[:400])
        target, data = self.form(r)
        data.update({"username": username, "password": password})
        r = self.follow(self.post(target, data))
        return r


def csrf_of(page):
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
