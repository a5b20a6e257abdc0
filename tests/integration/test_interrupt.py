#!/usr/bin/python3
"""A long ctl command stops when its writer gives up.

`echo 'merge all' > MNT/ctl` over many tasks, or `prune` of many
worktrees, runs while the writer waits in write().  A ^C of the writer
reaches the daemon as an interrupt of that request: the command stops at
the next safe point (between two merges, between two worktrees), the
write fails with EINTR, an event `interrupted` says where it stopped,
and what was done is whole: each merge is complete or not begun.

To catch the command in the middle without racing it, the daemon is
stopped (SIGSTOP) once its first merge is in the events, the writer gets
its SIGINT, and the daemon goes on (SIGCONT) once the writer waits for
the answer in the kernel: the interrupt is queued before the daemon can
go on, so many merges are still left when it arrives.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, wait_for  # noqa: E402

TASKS = 40

# Writes one ctl line with a raw write(2) (Python retries an interrupted
# os.write), then prints the result and its errno as JSON.
WRITER = r'''
import ctypes, json, os, signal, sys
signal.signal(signal.SIGINT, lambda *a: None)   # caught: write(2) says EINTR
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_WRONLY)
data = sys.argv[2].encode()
print('open', flush=True)
n = libc.write(fd, data, len(data))
e = ctypes.get_errno() if n < 0 else 0
os.close(fd)
print(json.dumps({'n': n, 'errno': e}), flush=True)
'''


def proc_state(pid):
    with open('/proc/%d/stat' % pid) as f:
        return f.read().rsplit(')', 1)[1].split()[0]


class TestInterruptedCommands(PaiTestCase):
    workers = 4

    def prepare_repo(self, repo):
        os.makedirs(os.path.join(repo, 'f'))
        for i in range(TASKS):
            with open(os.path.join(repo, 'f', '%03d.txt' % i), 'w') as f:
                f.write('file %d\n' % i)
        git(repo, 'add', '-A')
        git(repo, 'commit', '-q', '-m', 'one file per task')

    def setUp(self):
        super().setUp()
        # one task per file, each adding a file of its own: no conflicts
        self.m.write_new(json.dumps({'prompt': 'echo out > {file}.out',
                                     'each': 'f/*.txt',
                                     'paths': ['{file}', '{file}.out']}) + '\n')
        self.ids = self.m.task_ids()
        self.assertEqual(len(self.ids), TASKS)
        for t in self.ids:
            self.assertDone(t, 120)

    def start_writer(self, rel, line):
        w = subprocess.Popen([sys.executable, '-c', WRITER, self.m.path(rel), line],
                             stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: w.poll() is None and w.kill())
        self.assertEqual(w.stdout.readline().strip(), 'open')
        return w

    def interrupt_after_first(self, w, event):
        """Once the first `event` is out: stop the daemon, ^C the writer,
        and let the daemon go on once the writer waits in the kernel for
        the answer (state D: its interrupt is queued)."""
        wait_for(lambda: self.m.events_of(event), 60, msg='the first %s' % event)
        daemon = self.m.proc.pid
        os.kill(daemon, signal.SIGSTOP)
        try:
            w.send_signal(signal.SIGINT)
            wait_for(lambda: proc_state(w.pid) == 'D', 30,
                     msg='the writer to wait for its answer')
        finally:
            os.kill(daemon, signal.SIGCONT)
        out, _ = w.communicate(timeout=60)
        return json.loads(out.strip().splitlines()[-1])

    def test_ctrl_c_of_merge_all_stops_between_two_merges(self):
        w = self.start_writer('ctl', 'merge all\n')
        res = self.interrupt_after_first(w, 'merged')
        self.assertEqual((res['n'], res['errno']), (-1, errno.EINTR))

        states = {t: self.m.state(t) for t in self.ids}
        merged = sorted(t for t, s in states.items() if s == 'merged')
        done = sorted(t for t, s in states.items() if s == 'done')
        self.assertEqual(len(merged) + len(done), TASKS, states)
        self.assertTrue(merged and done, states)
        # the event says how far it went and which task is next
        [ev] = self.m.events_of('interrupted')
        self.assertEqual(ev['command'], 'merge all')
        self.assertEqual(ev['merged'], len(merged))
        self.assertEqual(ev['left'], len(done))
        self.assertIn(ev['next'], done)
        self.assertEqual(ev['reason'], 'merge all interrupted: merged %d of %d; task %d'
                         ' and those after it are not merged'
                         % (len(merged), TASKS, ev['next']))
        self.assertIn('merge all interrupted', self.m.stderr_text())
        self.assertEqual(sorted(e['task'] for e in self.m.events_of('merged')), merged)

        # main holds each merged task's work whole, nothing of the others
        repo = self.m.repo
        self.assertEqual(git(repo, 'fsck', '--no-progress', '--strict').strip(), '')
        self.assertEqual(git(repo, 'status', '--porcelain'), '')
        outs = set(git(repo, 'ls-tree', '-r', '--name-only', 'main', 'f/').split())
        for t in self.ids:
            name = self.m.read('tasks/%d/files' % t).split('\t', 1)[1].strip()
            if t in merged:
                self.assertIn(name, outs)
                self.assertTrue(os.path.exists(os.path.join(repo, name)))
            else:
                self.assertNotIn(name, outs)

        # and the rest merges when asked again
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        self.assertEqual({self.m.state(t) for t in self.ids}, {'merged'})

    def test_ctrl_c_of_prune_stops_between_two_worktrees(self):
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        wts = {t: os.readlink(self.m.path('tasks/%d/worktree' % t)) for t in self.ids}
        # worktrees heavy enough that removing one takes a while: the
        # daemon must still be pruning when the first `pruned` is seen
        for wt in wts.values():
            os.makedirs(os.path.join(wt, 'bulk'))
            for i in range(1500):
                open(os.path.join(wt, 'bulk', '%d' % i), 'w').close()
        w = self.start_writer('ctl', 'prune\n')
        res = self.interrupt_after_first(w, 'pruned')
        self.assertEqual((res['n'], res['errno']), (-1, errno.EINTR))

        pruned = sorted(e['task'] for e in self.m.events_of('pruned'))
        kept = sorted(set(self.ids) - set(pruned))
        self.assertTrue(pruned and kept)
        [ev] = self.m.events_of('interrupted')
        self.assertEqual((ev['command'], ev['pruned']), ('prune', len(pruned)))
        # each worktree is there whole, with git's record of it, or gone
        listed = git(self.m.repo, 'worktree', 'list', '--porcelain')
        for t in pruned:
            self.assertFalse(os.path.exists(wts[t]))
            self.assertNotIn('worktree %s\n' % wts[t], listed)
        for t in kept:
            self.assertTrue(os.path.isdir(wts[t]))
            self.assertIn('worktree %s\n' % wts[t], listed)
            self.assertEqual(os.readlink(self.m.path('tasks/%d/worktree' % t)), wts[t])
        self.assertEqual(self.m.ctl('ctl', 'prune\n'), 0)
        for t in self.ids:
            self.assertFalse(os.path.exists(wts[t]))


if __name__ == '__main__':
    paitest.main()
