#!/usr/bin/python3
"""contrib/demo end to end, as a newcomer runs it: on a machine where
`claude` is on PATH but not logged in (a stand-in that answers as an
unauthenticated Claude Code does), the demo exits 0, its tasks end as it
planned them (1 and 2 done, 3 still running, 4 failed, the sim agent task 5
merged with its tokens and cost), and its mount stays up for the user to
look at; this test then unmounts it.

The demo runs as it is, install-deps included, except for two overrides it
documents: PAI_BIN (the binary under test: nothing is built) and
PAI_DEMO_DIR (a directory of this test's own, so that a user's demo at
/tmp/pai-demo is left alone).
"""

import os
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import paitest  # noqa: E402
from paitest import BAD_PATTERNS, run, wait_for  # noqa: E402

DEMO = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'contrib', 'demo')

# What `claude -p PROMPT` prints on a machine where Claude Code was
# installed but never logged in, and its exit status.
NOT_LOGGED_IN = '#!/bin/sh\necho "Not logged in \u00b7 Please run /login"\nexit 1\n'

PLANNED = {1: 'done', 2: 'done', 3: 'running', 4: 'failed', 5: 'merged'}
ENGINES = {1: 'sh', 2: 'sh', 3: 'sh', 4: 'sh', 5: 'sim'}


class TestDemo(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='pai-demo-it-')
        self.dir = os.path.join(self.tmp, 'demo')
        self.mnt = os.path.join(self.dir, 'mnt')
        self.repo = os.path.join(self.dir, 'repo')
        self.addCleanup(self.cleanup)

    def cleanup(self):
        if os.path.ismount(self.mnt):
            paitest.unmount_lazy(self.mnt)
        paitest.kill_pids(paitest.daemon_pids(self.mnt))
        paitest.kill_pids(paitest.pids_under(self.tmp))
        paitest.shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self):
        bindir = os.path.join(self.tmp, 'bin')
        os.makedirs(bindir, exist_ok=True)
        claude = os.path.join(bindir, 'claude')
        with open(claude, 'w') as f:
            f.write(NOT_LOGGED_IN)
        os.chmod(claude, 0o755)
        env = dict(os.environ)
        env['PATH'] = bindir + ':' + env.get('PATH', '/usr/bin:/bin')
        env['PAI_BIN'] = paitest.PAI_BIN
        env['PAI_DEMO_DIR'] = self.dir
        # the demo's worktrees and anything else under XDG_DATA_HOME stay here
        env['XDG_DATA_HOME'] = os.path.join(self.tmp, 'xdg')
        for k in ('ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'OPENAI_BASE_URL'):
            env.pop(k, None)
        return env

    def run_demo(self):
        """contrib/demo; its output, once it exited 0 with its mount up."""
        r = run([DEMO], timeout=240, env=self.env(), stdin=subprocess.DEVNULL)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, 'contrib/demo failed:\n' + out)
        self.assertTrue(os.path.ismount(self.mnt), 'the demo left no mount:\n' + out)
        return out

    def state(self, tid):
        with open(os.path.join(self.mnt, 'tasks', str(tid), 'status')) as f:
            return f.readline().strip()

    def assertPlanned(self, out):
        states = {t: self.state(t) for t in PLANNED}
        self.assertEqual(states, PLANNED, 'demo output:\n' + out)
        for t in PLANNED:
            with open(os.path.join(self.mnt, 'tasks', str(t), 'status')) as f:
                self.assertIn('engine: %s\n' % ENGINES[t], f.read())
        # the agent task: an agent's log, tokens, a cost, a diff, merged
        with open(os.path.join(self.mnt, 'tasks', '5', 'status')) as f:
            st = paitest.parse_kv(f.read())
        self.assertGreater(int(st['input_tokens']), 0)
        self.assertGreater(float(st['cost_usd']), 0)
        self.assertIn('» Edit add.c', out)
        self.assertIn('+// sim: task 5: ', out)
        with open(os.path.join(self.repo, 'add.c')) as f:
            self.assertIn('// sim: task 5: ', f.read())

    def unmount(self):
        """The user's fusermount3 -u: the daemon exits, with a clean log."""
        pids = paitest.daemon_pids(self.mnt)
        self.assertTrue(pids, 'no daemon names %s' % self.mnt)
        r = run(['fusermount3', '-u', self.mnt])
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: not any(paitest.pid_alive(p) for p in pids), 30,
                 msg='the demo daemon to exit after unmount')
        with open(os.path.join(self.repo, '.git', 'parallelai', 'daemon.log')) as f:
            log = f.read()
        for pat in BAD_PATTERNS:
            self.assertNotIn(pat, log, 'daemon.log:\n' + log)

    def test_demo_runs_its_tasks_as_planned_and_stays_mounted(self):
        out = self.run_demo()
        self.assertNotIn('unmounting the previous demo', out)
        self.assertPlanned(out)
        self.assertIn('Unmount with:', out)
        self.unmount()

    def test_demo_run_again_starts_from_scratch(self):
        self.run_demo()
        # over the first one, still mounted, its slow task still running
        out = self.run_demo()
        self.assertIn('unmounting the previous demo', out)
        self.assertEqual(sorted(int(n) for n in os.listdir(os.path.join(self.mnt, 'tasks'))
                                if n.isdigit()), [1, 2, 3, 4, 5])
        self.assertPlanned(out)
        self.unmount()


if __name__ == '__main__':
    paitest.main()
