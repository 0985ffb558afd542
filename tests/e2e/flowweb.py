"""Helpers of the flow page tests: a browser that walks the flow
pages by their forms, an RFC 6238 code generator written here (never our C
code), the email codes and links read from the session's SMTP sink, and
action tokens aged in the database for expiry tests."""

import base64
import hashlib
import hmac
import html
import re
import struct
import time
from pathlib import Path

import leaks
import mail
from oidc import PASSWORD, Browser, forms, psql_flow

NEW_PASSWORD = "a brand new passphrase 2026"


# ------------------------------------------------------------------ RFC 6238

def b32decode(secret):
    s = secret.strip().replace(" ", "").upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def totp(secret, at=None, step=30, digits=6):
    """RFC 6238 (HMAC-SHA-1, T0 = 0, X = 30) over RFC 4226 §5.3 truncation."""
    leaks.register(secret, "totp-secret")
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)



# -------------------------------------------------------------------- pages

def h1(page):
    m = re.search(r"<h1>(.*?)</h1>", page.text, re.S)
    return m and html.unescape(m.group(1))


def alert(page):
    m = re.search(r'<p class="error" role="alert">(.*?)</p>', page.text, re.S)
    return m and html.unescape(m.group(1))


def field_names(page):
    f = forms(page.text)
    return set(k for k in f[0]["fields"] if k) if f else set()


def inputs(page):
    """name → attribute dict of every <input> of the page."""
    out = {}
    for tag in re.findall(r"<input\b[^>]*>", page.text):
        attrs = dict((k, html.unescape(v)) for k, v in re.findall(r'(\w[\w-]*)="([^"]*)"', tag))
        if "name" in attrs:
            out[attrs["name"]] = attrs
    return out


def text_of(page, element_id):
    m = re.search(r'id="%s"[^>]*>(.*?)</' % re.escape(element_id), page.text, re.S)
    return m and html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip()


class FlowBrowser(Browser):
    def start(self, path):
        """GET a start page (/register, /recover, /account/...): 303 to /flow, then the page."""
        r = self.get(self.base + path)
        assert r.status_code == 303, (r.status_code, r.text[:500])
        assert r.headers["Location"] == self.base + "/flow", r.headers
        page = self.get(r.headers["Location"])
        assert page.status_code == 200, page.text[:500]
        return page

    def fill(self, page, **values):
        """Submits the first form of page: its hidden fields, and for each
        visible input the value given by name (password confirmations get
        the password)."""
        data = {}
        for name, attrs in inputs(page).items():
            if attrs.get("type") == "hidden":
                data[name] = attrs.get("value", "")
            elif name in values:
                data[name] = values[name]
            elif attrs.get("type") == "password" and "password" in values:
                data[name] = values["password"]
        form = forms(page.text)[0]
        return self.http.post(html.unescape(form["action"]), data=data, allow_redirects=False, timeout=30)


# --------------------------------------------------------------------- mail

def messages_to(stack, address):
    """Every message of the session's SMTP sink addressed to address."""
    return mail.messages(stack.mail_dir, to=address)


def wait_message(stack, address, count=1, timeout=15.0):
    """The count-th message to address (waits for the outbox to deliver it)."""
    found = mail.wait_for(stack.mail_dir, to=address, count=count, timeout=timeout)
    assert len(found) >= count, f"no message {count} to {address} within {timeout} s"
    return found[count - 1]


def code_in(msg):
    code = mail.code(msg)
    assert code, mail.text(msg)
    leaks.register(code, "mail-code")
    return code


def link_in(msg, base):
    found = [u for u in mail.links(msg) if re.match(re.escape(base) + r"(/flow)?/action\?token=", u)]
    assert found, mail.text(msg)
    leaks.from_url(found[0], "mail-link")
    return found[0]


# ---------------------------------------------------------- action tokens

def expire_action_token(stack, token):
    """Moves the token's expiry into the past. Its row holds HMAC-SHA256
    under the flow key of "action" NUL token (flow-svc/action.c)."""
    raw = stack.env["OSTIARY_FLOW_SECRET_KEY"]
    key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    digest = hmac.new(key, b"action\0" + token.encode(), hashlib.sha256).hexdigest()
    out = psql_flow(stack, "UPDATE flow.action_tokens SET expires_at = now() - interval '1 second' "
                           f"WHERE hash = '\\x{digest}'::bytea RETURNING 1")
    assert out == "1", "the action token's row was not found"


def password_login(stack, browser, client_id, redirect_uri, username, password=PASSWORD, **extra):
    """/authorize → /login → password; returns the answer of the password POST."""
    from oidc import auth_params, pkce
    _, challenge = pkce()
    r = browser.authorize(auth_params(client_id, redirect_uri, code_challenge=challenge,
                                      code_challenge_method="S256", **extra))
    return browser.login(r, username, password)


class CustomLoginFlow:
    """flow-svc restarted with the shipped flows plus tests/flows/engine,
    optional webhooks, and OSTIARY_LOGIN_FLOW = name, so that /authorize
    runs that flow; close() brings the default flow-svc back."""

    def __init__(self, stack, folder, name, hooks=None):
        import json
        import shutil as sh
        repo = Path(__file__).resolve().parents[2]
        flows = folder / "flows"
        flows.mkdir()
        for src in (repo / "flows").glob("*.json"):
            sh.copy(src, flows)
        sh.copy(repo / "tests" / "flows" / "engine" / f"{name}.json", flows)
        env = {"OSTIARY_FLOWS_DIR": str(flows), "OSTIARY_LOGIN_FLOW": name, "OSTIARY_OUTBOX_POLL_MS": "50"}
        if hooks:
            (folder / "webhooks.json").write_text(json.dumps({"hooks": hooks}))
            env["OSTIARY_WEBHOOKS_FILE"] = str(folder / "webhooks.json")
        self.stack = stack
        stack.stop_all("flow")
        stack.start("flow", env)
        stack.wait_ready()

    def close(self):
        self.stack.stop_all("flow")
        self.stack.ensure("flow")
        self.stack.wait_ready()
