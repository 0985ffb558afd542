"""The secrets of a whole e2e run, and the check that none reached a log.

Every password, client secret, authorization code, code verifier, access,
refresh and ID token and session cookie a test sends or receives is
registered here, mostly without the test doing anything:

- `install()` wraps requests' transport (HTTPAdapter.send), so every HTTP
  exchange with the gateway registers the secret members of its form or JSON
  body, its Authorization credentials (Basic secret, Bearer token), the
  secrets in a redirect's Location (code, tokens) and in a JSON answer, and
  the session cookie;
- conftest.py passes every `ostiaryctl` invocation to `from_ctl`, which
  registers the secret members of the JSON it sends (`call OP JSON`) and of
  the JSON it prints (client_secret of token.client_add, tokens of
  token.exchange, ...);
- a test may call `register(value, what)` for anything else.

At the end of the session conftest.py calls `scan(paths)` over every process
log and every file of exported spans; a hit fails the run. Values shorter than
MIN_LEN (and short all-digit ones: one-time codes) are not registered: they
would match timestamps and counters by chance.
"""

import base64
import json
import re
import threading
from urllib.parse import parse_qs, unquote, urlsplit

MIN_LEN = 8
# Fewer distinct characters than this: a placeholder, not a secret.
MIN_DISTINCT = 6
# Member names whose string values are secrets, in forms, JSON and URLs.
SECRET_KEYS = {
    "password", "new_password", "current_password", "password_confirm", "client_secret", "code",
    "code_verifier", "access_token", "refresh_token", "id_token", "token", "secret", "totp_secret",
    "registration_access_token",
}
SESSION_COOKIES = ("ostiary_session",)

_lock = threading.Lock()
_secrets = {}  # value -> what it is (first seen)
# What the last scan did: (secrets looked for, files read, hits), for the
# session's summary line.
last_scan = None


def register(value, what):
    """Records value (a str) as a secret of kind `what`."""
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < MIN_LEN or (value.isdigit() and len(value) < 12):
        return
    # A made-up value of few distinct characters ("A" * 43, a test's
    # malformed token) is no secret: it also appears as other, public things.
    if len(set(value)) < MIN_DISTINCT:
        return
    with _lock:
        _secrets.setdefault(value, what)


def count():
    with _lock:
        return len(_secrets)


def secrets():
    with _lock:
        return dict(_secrets)


def from_json(value, where="json"):
    """Registers the secret members of a parsed JSON value, at any depth."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in SECRET_KEYS and isinstance(v, str):
                register(v, f"{where}:{k}")
            elif k == "basic" and isinstance(v, str):
                _from_authorization(v)
            else:
                from_json(v, where)
    elif isinstance(value, list):
        for v in value:
            from_json(v, where)


def from_text_json(text, where):
    try:
        from_json(json.loads(text), where)
    except (ValueError, TypeError):
        pass


def from_form(text, where="form"):
    for k, values in parse_qs(text, keep_blank_values=True).items():
        if k in SECRET_KEYS:
            for v in values:
                register(v, f"{where}:{k}")


def from_url(url, where="url"):
    parts = urlsplit(url)
    from_form(parts.query, where)
    from_form(parts.fragment, where)


def _from_authorization(value):
    scheme, _, cred = value.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            raw = base64.b64decode(cred.strip()).decode("utf-8", "replace")
        except ValueError:
            return
        _, _, secret = raw.partition(":")
        register(unquote(secret), "basic:client_secret")
    elif scheme.lower() == "bearer":
        register(cred, "bearer")


def from_ctl(args, stdout):
    """An ostiaryctl invocation (its arguments, then what it read on stdin):
    its JSON arguments, a password given with --password-stdin, and its
    JSON output."""
    for a in args:
        a = str(a).strip()
        if a.startswith("{") or a.startswith("["):
            from_text_json(a, "ctl-arg")
    if "--password-stdin" in [str(a) for a in args[:-1]] and isinstance(args[-1], str):
        register(args[-1], "ctl-password-stdin")
    if stdout:
        from_text_json(stdout, "ctl-out")


def _from_request(request):
    auth = request.headers.get("Authorization")
    if auth:
        _from_authorization(auth)
    from_url(request.url, "request-url")
    body = request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return
    ctype = request.headers.get("Content-Type", "")
    if "json" in ctype:
        from_text_json(body, "request-json")
    else:
        from_form(body, "request-form")


def _from_response(response):
    location = response.headers.get("Location")
    if location:
        from_url(location, "location")
    for name in SESSION_COOKIES:
        value = response.cookies.get(name)
        if value:
            register(value, f"cookie:{name}")
    if "json" in response.headers.get("Content-Type", ""):
        try:
            from_json(response.json(), "response-json")
        except ValueError:
            pass


_installed = False


def install():
    """Wraps requests' transport once per process (see the module doc)."""
    global _installed
    if _installed:
        return
    from requests.adapters import HTTPAdapter

    original = HTTPAdapter.send

    def send(self, request, *args, **kwargs):
        try:
            _from_request(request)
        except Exception:  # the registry must never break a test
            pass
        response = original(self, request, *args, **kwargs)
        try:
            _from_response(response)
        except Exception:
            pass
        return response

    HTTPAdapter.send = send
    _installed = True


_SPLIT = re.compile(r"[^A-Za-z0-9_-]+")


def scan(paths):
    """Every registered secret found in one of paths (process logs, exported
    spans): a list of "file:line: kind value-prefix…" strings (the value is
    never printed whole)."""
    global last_scan
    found = []
    table = secrets()
    if not table:
        last_scan = (0, 0, 0)
        return found
    # Each secret's longest run of token characters, looked up in the set of
    # runs of each file first: thousands of secrets over megabytes of logs.
    keyed = []
    for value, what in table.items():
        parts = sorted(_SPLIT.split(value), key=len, reverse=True)
        keyed.append((value, what, parts[0] if parts and len(parts[0]) >= MIN_LEN else None))
    for path in paths:
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        runs = set()
        for run in _SPLIT.split(text):
            if len(run) >= MIN_LEN:
                runs.add(run)
        for value, what, key in keyed:
            # A secret logged glued to other token characters ("xSECRET")
            # is not found by the set; every other placement is.
            if key is not None and key not in runs:
                continue
            if value not in text:
                continue
            lineno = text[: text.index(value)].count("\n") + 1
            found.append(f"{path}:{lineno}: {what} {value[:6]}…")
    last_scan = (len(table), len(paths), len(found))
    return found
