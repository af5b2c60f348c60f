#!/usr/bin/env python3
# bench/reload.py - what one definition change costs the writer with N experiments in the
# catalogue (docs/PERFORMANCE.md "Seventeenth pass"): every definition write reloads the
# snapshot before its reply, and a write is a barrier that holds every later write.
#
# 1. the daemon starts on an empty data dir (--rate-limit-manage 0);
# 2. 20 metrics, then N running experiments (3 variants, targeting with $in, $gt and a $regex
#    of its own, 2 metrics each);
# 3. K PATCHes of one experiment's name, one after the other, each timed;
# 4. prints the median and the longest PATCH and the daemon's CPU time per PATCH (every
#    thread, from /proc/PID/task/*/schedstat: steadier than wall time on a shared machine).
#
# Usage: python3 bench/reload.py [N]   (default 2000; BENCH_BIN=PATH runs another bunsen
# binary, e.g. one built from an older commit; BENCH_PORT (default 18091), BENCH_K (30))
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get('BENCH_BIN', os.path.join(ROOT, 'build', 'bunsen'))
PORT = int(os.environ.get('BENCH_PORT', '18091'))
K = int(os.environ.get('BENCH_K', '30'))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000

data = tempfile.mkdtemp(prefix='bunsen-reload-')
daemon = subprocess.Popen([BIN, 'serve', '--listen', '127.0.0.1', '--data-dir', data, '--port',
                           str(PORT), '--log-level', 'warn', '--rate-limit-manage', '0'],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        if os.path.exists(os.path.join(data, 'admin.key')):
            break
        time.sleep(0.1)
    time.sleep(0.3)
    key = open(os.path.join(data, 'admin.key')).read().strip()

    def req(method, path, body=None):
        r = urllib.request.Request('http://127.0.0.1:%d/api/v1%s' % (PORT, path), method=method,
                                   data=json.dumps(body).encode() if body is not None else None,
                                   headers={'Authorization': 'Bearer ' + key,
                                            'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(r) as f:
                return f.status, f.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def cpu_ns(pid):
        t = 0
        for tid in os.listdir('/proc/%d/task' % pid):
            try:
                t += int(open('/proc/%d/task/%s/schedstat' % (pid, tid)).read().split()[0])
            except OSError:
                pass
        return t

    for m in range(20):
        req('POST', '/metrics', {'key': 'm%d' % m, 'event': 'e%d' % m, 'type': 'binomial'})
    for i in range(N):
        st, b = req('POST', '/experiments', {
            'key': 'x%d' % i, 'variants': [{'key': 'a'}, {'key': 'b'}, {'key': 'c'}],
            'targeting': {'country': {'$in': ['NL', 'BE', 'DE', 'FR']}, 'age': {'$gt': 18},
                          'browser': {'$regex': '^(chrome|firefox)%d' % i}},
            'metrics': ['m%d' % (i % 20), 'm%d' % ((i + 1) % 20)],
            'primary_metric': 'm%d' % (i % 20)})
        assert st == 201, (st, b)
        st, b = req('POST', '/experiments/x%d/start' % i)
        assert st == 200, (st, b)
    time.sleep(0.5)
    ts = []
    c0 = cpu_ns(daemon.pid)
    for k in range(K):
        t = time.time()
        st, b = req('PATCH', '/experiments/x0', {'name': 'n%d' % k})
        ts.append(time.time() - t)
        assert st == 200, (st, b)
    c1 = cpu_ns(daemon.pid)
    ts.sort()
    print('%d experiments: PATCH median %.1f ms, max %.1f ms; daemon CPU per PATCH %.2f ms' %
          (N, ts[K // 2] * 1000, ts[-1] * 1000, (c1 - c0) / 1e6 / K))
finally:
    daemon.terminate()
    daemon.wait()
    shutil.rmtree(data, ignore_errors=True)
