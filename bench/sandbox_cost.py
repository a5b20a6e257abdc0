#!/usr/bin/python3
"""The sandbox's cost per run, roughly: N `sh` tasks end to end on one
worker, with sandbox=none and sandbox=bwrap in turns (three of each), in
one run; the repository outside /tmp. Prints the median times and the
ratio. Not a test: the figures move with the machine's load.

    PAI_BIN=build/parallelai bench/sandbox_cost.py [N]
"""
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'integration'))
from paitest import Mount, wait_for  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def one(mode):
    tmp = tempfile.mkdtemp(prefix='pai-bench-', dir='/var/tmp')
    m = Mount(tmp, workers=1, opts=('worktrees=' + tmp + '/wt', 'sandbox=' + mode))
    m.start()
    try:
        t0 = time.monotonic()
        for i in range(N):
            with open(m.path('tasks/new'), 'w') as f:
                f.write('echo %d > out.txt\n' % i)
        wait_for(lambda: m.kv('status').get('done') == str(N), 1200, interval=0.2)
        return time.monotonic() - t0, m.kv('status').get('sandbox')
    finally:
        m.unmount()
        m.cleanup()


res = {}
for mode in ('none', 'bwrap') * 3:
    total, got = one(mode)
    if got != mode:
        sys.exit('asked for sandbox=%s, got %s' % (mode, got))
    res.setdefault(mode, []).append(total)
    print('%-5s %.2f s, %.1f ms per task' % (mode, total, total * 1000 / N), flush=True)
a, b = statistics.median(res['none']), statistics.median(res['bwrap'])
print(json.dumps({'tasks': N, 'none_s': round(a, 2), 'bwrap_s': round(b, 2),
                  'ratio': round(b / a, 2), 'ms_per_run': round((b - a) * 1000 / N, 1)}))
