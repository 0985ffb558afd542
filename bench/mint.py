#!/usr/bin/python3
"""bench/mint.py - mints what the wrk scenarios of bench/run.sh consume, by
walking the real pages with requests (never a shortcut over the bus):

  mint.py codes N     N authorization codes: one login through the login
                      form, then N authorization requests on that SSO
                      session; prints "code" lines (all with the PKCE
                      verifier of BENCH_VERIFIER, see code.lua)
  mint.py refresh N   N refresh tokens, each from its own code exchange
                      (its own family); prints one per line
  mint.py access      one access token from a code exchange
  mint.py logins SECONDS THREADS
                      whole browser-less logins (fresh session: authorize →
                      login form POST → code → token exchange) for SECONDS on
                      THREADS threads; prints "logins/s p50_ms p99_ms failures"

Environment: BENCH_URL, CODE_CLIENT_ID, CODE_SECRET, CODE_REDIRECT,
BENCH_USER, BENCH_PASSWORD (bench/seed.sh exports them), BENCH_VERIFIER.
Bounded: N is capped by MINT_MAX (default 20000); every request has a
10 s timeout; loopback only."""

import base64
import concurrent.futures
import hashlib
import html
import os
import re
import secrets
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import requests

URL = os.environ["BENCH_URL"]
CLIENT = os.environ["CODE_CLIENT_ID"]
SECRET = os.environ["CODE_SECRET"]
REDIRECT = os.environ["CODE_REDIRECT"]
USER = os.environ["BENCH_USER"]
PASSWORD = os.environ["BENCH_PASSWORD"]
VERIFIER = os.environ.get("BENCH_VERIFIER", "bench-verifier-" + "v" * 43)
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
MAX = int(os.environ.get("MINT_MAX", "20000"))
SCOPE = "openid profile offline_access"


def session():
    s = requests.Session()
    s.trust_env = False
    return s


def first_form(text):
    action = re.search(r'<form[^>]*action="([^"]*)"', text)
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', text))
    return html.unescape(action.group(1)) if action else None, {k: html.unescape(v) for k, v in fields.items()}


def authorize(s):
    params = {"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "scope": SCOPE,
              "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
              "code_challenge": CHALLENGE, "code_challenge_method": "S256",
              # OpenID Connect Core §11: offline_access (a refresh token) needs prompt=consent.
              "prompt": "consent"}
    r = s.get(URL + "/authorize", params=params, allow_redirects=False, timeout=10)
    if r.status_code == 303 and r.headers.get("Location") == URL + "/login":
        page = s.get(URL + "/login", allow_redirects=False, timeout=10)
        action, fields = first_form(page.text)
        fields.update(username=USER, password=PASSWORD)
        r = s.post(action, data=fields, allow_redirects=False, timeout=30)
    if r.status_code == 303 and r.headers.get("Location") == URL + "/consent":
        page = s.get(URL + "/consent", allow_redirects=False, timeout=10)
        action, fields = first_form(page.text)
        fields["decision"] = "allow"
        r = s.post(action, data=fields, allow_redirects=False, timeout=10)
    loc = r.headers.get("Location", "")
    if r.status_code not in (302, 303) or not loc.startswith(REDIRECT):
        raise RuntimeError(f"authorize: {r.status_code} {loc or r.text[:200]}")
    code = parse_qs(urlsplit(loc).query).get("code")
    if not code:
        raise RuntimeError(f"authorize: no code in {loc}")
    return code[0]


def exchange(s, code):
    r = s.post(URL + "/token", data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": REDIRECT, "code_verifier": VERIFIER},
               auth=(CLIENT, SECRET), timeout=10)
    if r.status_code != 200:
        raise RuntimeError(f"token: {r.status_code} {r.text[:200]}")
    return r.json()


def parallel(n, fn, threads=4):
    local = threading.local()

    def one(_):
        if not hasattr(local, "s"):
            local.s = session()
        return fn(local.s)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(n)))


def main(argv):
    what = argv[1]
    if what == "codes":
        n = min(int(argv[2]), MAX)
        s = session()
        authorize(s)  # logs in once; the codes below ride the SSO session
        cookies = s.cookies

        def mint(t):
            t.cookies.update(cookies)
            return authorize(t)

        for code in parallel(n, mint):
            print(code)
    elif what == "refresh":
        n = min(int(argv[2]), MAX)
        s = session()
        authorize(s)
        cookies = s.cookies

        def mint(t):
            t.cookies.update(cookies)
            rt = exchange(t, authorize(t)).get("refresh_token")
            if not rt:
                raise RuntimeError("no refresh_token in the token response")
            return rt

        for rt in parallel(n, mint):
            print(rt)
    elif what == "access":
        s = session()
        print(exchange(s, authorize(s))["access_token"])
    elif what == "logins":
        seconds, threads = float(argv[2]), int(argv[3])
        end = time.monotonic() + seconds
        lat, fail, lock = [], [0], threading.Lock()

        def worker():
            while time.monotonic() < end:
                t0 = time.monotonic()
                try:
                    with session() as s:  # a fresh browser: no SSO cookie
                        exchange(s, authorize(s))
                    with lock:
                        lat.append((time.monotonic() - t0) * 1000)
                except Exception as e:  # counted, shown once
                    with lock:
                        fail[0] += 1
                        if fail[0] == 1:
                            print(f"mint.py logins: {e}", file=sys.stderr)

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        start = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        elapsed = time.monotonic() - start
        lat.sort()
        pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] if lat else float("nan")
        print(f"{len(lat) / elapsed:.1f} {pct(0.5):.2f} {pct(0.99):.2f} {fail[0]}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
