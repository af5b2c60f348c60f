#!/usr/bin/env python3
"""bench/small_write_latency.py - the latency of a small write beside bulk ingestion.

For each bunsen binary given (several: measured one after the other in the same run, so an
old build and a new one compare on the same machine state), starts the daemon on a temp data
dir (SQLite, default threads), creates a running 2-variant experiment with two metrics and
exposes BENCH_USERS users, then for BENCH_SECONDS runs:
  - BENCH_CLIENTS bulk clients, each POSTing BENCH_BATCH-event batches (about 1 MB of JSON
    each at 10,000 events) in a loop on a keep-alive connection;
  - one probe alternating a 1-event POST /api/v1/events and a GET /readyz, each on a new
    connection, every BENCH_PROBE_MS ms.
Prints per binary: the probe's p50 / p99 / max (ms) of both requests, its non-2xx count, and
the bulk clients' events per second. Bounded: each run stops after BENCH_SECONDS (+ the
requests in flight, each with a 30 s timeout). Writes nothing outside its temp dirs.

usage: python3 bench/small_write_latency.py [BIN...]   (default: build/bunsen)
knobs: BENCH_CLIENTS=8 BENCH_BATCH=10000 BENCH_SECONDS=20 BENCH_USERS=20000
       BENCH_PROBE_MS=50 BENCH_PORT=0 (the first daemon's port; each next one +1; 0: free)
       BUNSEN_THREADS (HTTP worker threads, default: the daemon's)
"""
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
BATCH = int(os.environ.get("BENCH_BATCH", "10000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
USERS = int(os.environ.get("BENCH_USERS", "20000"))
PROBE_MS = float(os.environ.get("BENCH_PROBE_MS", "50"))
PORT = int(os.environ.get("BENCH_PORT", "0"))
EXP = "bench-small"


def request(port, method, path, key=None, body=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Connection": "close"}
    if key:
        h["Authorization"] = "Bearer " + key
    if body is not None:
        h["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def api(port, method, path, key, obj=None):
    st, data = request(port, method, path, key, None if obj is None else json.dumps(obj))
    if st // 100 != 2:
        raise SystemExit("bench: %s %s -> %d %s" % (method, path, st, data[:200]))
    return json.loads(data) if data else None


def start(binary, port):
    d = tempfile.mkdtemp(prefix="bunsen-smallw-")
    args = [binary, "serve", "--listen", "127.0.0.1", "--port", str(port), "--data-dir", d,
            "--log-level", "warn"]
    if os.environ.get("BUNSEN_THREADS"):
        args += ["--threads", os.environ["BUNSEN_THREADS"]]
    out = open(os.path.join(d, "out"), "w")
    err = open(os.path.join(d, "err"), "w")
    p = subprocess.Popen(args, stdout=out, stderr=err)
    got = None
    for _ in range(300):
        with open(os.path.join(d, "out")) as f:
            line = f.readline()
        if "listening on http://" in line:
            got = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
            break
        if p.poll() is not None:
            break
        time.sleep(0.1)
    if got is None:
        p.kill()
        raise SystemExit("bench: %s did not start (%s)" % (binary, open(os.path.join(d, "err")).read()))
    admin = open(os.path.join(d, "admin.key")).read().strip()
    return p, d, got, admin


def setup(port, admin):
    api(port, "POST", "/api/v1/metrics", admin,
        {"key": "conv", "event": "purchase", "type": "binomial", "window_hours": 72})
    api(port, "POST", "/api/v1/metrics", admin, {"key": "clicks", "event": "click", "type": "count"})
    api(port, "POST", "/api/v1/experiments", admin,
        {"key": EXP, "name": "Bench", "variants": [{"key": "control"}, {"key": "treatment"}],
         "metrics": ["conv", "clicks"]})
    api(port, "POST", "/api/v1/experiments/%s/start" % EXP, admin)
    sdk = api(port, "POST", "/api/v1/keys", admin, {"name": "bench", "role": "sdk"})["key"]
    for lo in range(0, USERS, 10000):
        ex = [{"experiment": EXP, "user_id": "u%d" % u,
               "variant": "control" if u % 2 else "treatment"}
              for u in range(lo, min(USERS, lo + 10000))]
        api(port, "POST", "/api/v1/exposures", sdk, {"exposures": ex})
    return sdk


def pct(v, q):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def run(binary, port):
    p, d, port, admin = start(binary, port)
    try:
        sdk = setup(port, admin)
        stop = time.monotonic() + SECONDS
        sent = [0] * CLIENTS
        bad = [0] * CLIENTS

        def bulk(ci):
            rnd = random.Random(ci)
            # one template per client: @@@@@@@@ becomes the batch's number (ids unique)
            ev = [{"user_id": "u%d" % rnd.randrange(USERS),
                   "event": "purchase" if i % 3 == 0 else "click",
                   "value": 1 + i % 5, "id": "c%d-@@@@@@@@-%d" % (ci, i)} for i in range(BATCH)]
            tpl = json.dumps({"events": ev}).encode()
            conn = None
            seq = 0
            while time.monotonic() < stop:
                body = tpl.replace(b"@@@@@@@@", b"%08d" % seq)
                seq += 1
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    conn.request("POST", "/api/v1/events", body=body,
                                 headers={"Authorization": "Bearer " + sdk,
                                          "Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                    if r.status // 100 == 2:
                        sent[ci] += BATCH
                    else:
                        bad[ci] += 1
                        time.sleep(0.05)
                except Exception:
                    bad[ci] += 1
                    conn = None
                    time.sleep(0.05)

        lat = {"event1": [], "readyz": []}
        probe_bad = {"event1": 0, "readyz": 0}

        def probe():
            n = 0
            time.sleep(0.5)  # the bulk clients first
            while time.monotonic() < stop:
                kind = "event1" if n % 2 == 0 else "readyz"
                t0 = time.monotonic()
                try:
                    if kind == "event1":
                        st, _ = request(port, "POST", "/api/v1/events", sdk,
                                        json.dumps({"events": [{"user_id": "u%d" % (n % USERS),
                                                                "event": "purchase"}]}))
                    else:
                        st, _ = request(port, "GET", "/readyz")
                except Exception:
                    st = -1
                dt = (time.monotonic() - t0) * 1e3
                if st // 100 == 2:
                    lat[kind].append(dt)
                else:
                    probe_bad[kind] += 1
                n += 1
                time.sleep(PROBE_MS / 1e3)

        t0 = time.monotonic()
        ts = [threading.Thread(target=bulk, args=(i,)) for i in range(CLIENTS)]
        ts.append(threading.Thread(target=probe))
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        el = time.monotonic() - t0
        print("%s: %d bulk clients x %d events, %.0f s: %.0f events/s accepted, %d bulk non-2xx"
              % (binary, CLIENTS, BATCH, el, sum(sent) / el, sum(bad)))
        for kind in ("event1", "readyz"):
            v = lat[kind]
            print("  %-7s n=%4d  p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  non-2xx %d"
                  % (kind, len(v), pct(v, 0.5), pct(v, 0.99), max(v) if v else float("nan"),
                     probe_bad[kind]))
        sys.stdout.flush()
    finally:
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    bins = sys.argv[1:] or ["build/bunsen"]
    for i, b in enumerate(bins):
        run(os.path.abspath(b), PORT + i if PORT else 0)


if __name__ == "__main__":
    main()
