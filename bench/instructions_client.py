#!/usr/bin/python3
"""bench/instructions_client.py - the requests bench/instructions.sh counts,
one at a time on one keep-alive connection:

  instructions_client.py cc N AUTH            N client_credentials grants
  instructions_client.py refresh N AUTH FILE  N refresh rotations, each on
                                              the newest token of a chain
                                              (FILE: one token per line,
                                              rewritten with the last ones)

Exits 1 at the first answer that is not 200, unless WARMUP=1: then a
failure (the first instrumented runs of a path can outlast a deadline) is
counted and, for refresh, its chain dropped. Environment: BENCH_URL
(loopback only), WARMUP."""

import os
import sys
from urllib.parse import urlsplit

import requests

URL = os.environ["BENCH_URL"]
if urlsplit(URL).hostname not in ("127.0.0.1", "localhost", "::1"):
    sys.exit("instructions_client.py: only loopback is a target")
kind, n, auth = sys.argv[1], int(sys.argv[2]), sys.argv[3]
warmup = os.environ.get("WARMUP") == "1"
failed = 0
s = requests.Session()
s.trust_env = False
headers = {"Authorization": auth}
if kind == "cc":
    for _ in range(n):
        r = s.post(URL + "/token", data={"grant_type": "client_credentials"}, headers=headers, timeout=30)
        if r.status_code != 200 and not warmup:
            sys.exit(f"client_credentials: {r.status_code} {r.text[:200]}")
        failed += r.status_code != 200
elif kind == "refresh":
    path = sys.argv[4]
    with open(path) as f:
        chains = [line.strip() for line in f if line.strip()]
    for i in range(n):
        if not chains:
            sys.exit("refresh: every chain failed")
        k = i % len(chains)
        r = s.post(URL + "/token", data={"grant_type": "refresh_token", "refresh_token": chains[k]},
                   headers=headers, timeout=30)
        if r.status_code != 200 and not warmup:
            sys.exit(f"refresh: {r.status_code} {r.text[:200]}")
        if r.status_code != 200:
            failed += 1
            del chains[k]
        else:
            chains[k] = r.json()["refresh_token"]
    with open(path, "w") as f:
        f.write("\n".join(chains) + "\n")
else:
    sys.exit(__doc__)
if failed:
    print(f"instructions_client.py: {failed} of {n} warm-up requests failed", file=sys.stderr)
