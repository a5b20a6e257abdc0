#!/usr/bin/python3
"""The wait files: reads that block until a task ends, or the queue drains.

`cat tasks/7/wait` blocks while task 7 is queued, waiting or running and
then says its end state (done, failed, cancelled, merged, blocked) and a
newline; `cat wait` blocks until no task is queued, waiting or running and
then says how many tasks are in each state.  A ^C of the reader ends its
read with EINTR, stopping the daemon ends every blocked read (EIO, event
wait_ended), select(2) and poll(2) say readable once a read would not
block, and however many readers block, the mount goes on answering.

Tasks here are shell tasks held at a gate: they spin until the test
creates a file, so when a task ends is the test's choice, never a timing.
"""

import errno
import json
import os
import select
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, wait_for  # noqa: E402

# A hang guard, never an expectation: every wait below ends long before.
GUARD = 120

# One read(2) of a wait file with a raw read (Python retries an interrupted
# os.read): it prints 'open', then the result and errno as "N ERRNO TEXT".
READER = r'''
import ctypes, os, signal, sys
signal.signal(signal.SIGINT, lambda *a: None)   # caught: read(2) says EINTR
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY)
print('open', flush=True)
buf = ctypes.create_string_buffer(256)
n = libc.read(fd, buf, 256)
e = ctypes.get_errno() if n < 0 else 0
print(n, e, buf.raw[:max(n, 0)].decode().strip() or '-', flush=True)
'''


def blocked_in_read(pid):
    """pid waits in read(2) for the daemon's answer (its FUSE request)."""
    try:
        with open('/proc/%d/syscall' % pid) as f:
            call = f.read().split()
        with open('/proc/%d/wchan' % pid) as f:
            chan = f.read()
    except OSError:
        return False
    return bool(call) and call[0] == '0' and chan == 'request_wait_answer'


class TestWait(PaiTestCase):
    workers = 4

    def gate_cmd(self, name='gate'):
        return 'while [ ! -e %s ]; do sleep 0.05; done' % os.path.join(self.tmp, name)

    def open_gate(self, name='gate'):
        with open(os.path.join(self.tmp, name), 'w'):
            pass

    def gated(self, name='gate', then=''):
        return self.m.submit(self.gate_cmd(name) + (('; ' + then) if then else ''))

    def cat(self, rel):
        p = subprocess.Popen(['cat', self.m.path(rel)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def wait_blocked(self, procs):
        wait_for(lambda: all(blocked_in_read(p.pid) for p in procs), GUARD,
                 msg='%d readers to block in read(2)' % len(procs))

    # ---- tasks/N/wait ------------------------------------------------------
    def test_read_blocks_until_the_task_ends(self):
        tid = self.gated()
        self.m.wait_state(tid, 'running')
        reader = self.cat('tasks/%d/wait' % tid)
        self.wait_blocked([reader])
        self.assertIsNone(reader.poll(), 'wait returned while the task runs')
        self.assertEqual(self.m.state(tid), 'running')
        self.open_gate()
        out, err = reader.communicate(timeout=GUARD)
        self.assertEqual((reader.returncode, out, err), (0, 'done\n', ''))
        self.assertEqual(self.m.state(tid), 'done')

    def test_failed_and_queued_tasks(self):
        # four workers, five tasks: the last waits its turn in the queue
        ids = [self.gated(then='exit 3')] + [self.gated() for _ in range(4)]
        readers = [self.cat('tasks/%d/wait' % t) for t in ids]
        self.wait_blocked(readers)
        self.open_gate()
        outs = [r.communicate(timeout=GUARD)[0] for r in readers]
        self.assertEqual(outs, ['failed\n'] + ['done\n'] * 4)

    def test_ended_task_answers_at_once(self):
        done = self.m.submit('true')
        failed = self.m.submit('exit 1')
        cancelled = self.gated()
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % cancelled, 'cancel\n'), 0)
        blocked = self.m.submit('{"prompt": "true", "depends": [%d]}' % failed)
        self.assertDone(done)
        self.m.wait_state(failed, 'failed')
        self.m.wait_state(cancelled, 'cancelled')
        self.m.wait_state(blocked, 'blocked')
        for tid, word in ((done, 'done'), (failed, 'failed'),
                          (cancelled, 'cancelled'), (blocked, 'blocked')):
            r = paitest.run(['cat', self.m.path('tasks/%d/wait' % tid)], timeout=GUARD)
            self.assertEqual((r.returncode, r.stdout), (0, word + '\n'), tid)
            # and stat says what a read gives
            self.assertEqual(os.stat(self.m.path('tasks/%d/wait' % tid)).st_size,
                             len(word) + 1)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % done, 'merge\n'), 0)
        self.assertEqual(self.m.read('tasks/%d/wait' % done), 'merged\n')

    def test_found_by_name_never_listed(self):
        tid = self.gated()
        self.m.wait_state(tid, 'running')
        self.assertNotIn('wait', os.listdir(self.m.mnt))
        self.assertNotIn('wait', os.listdir(self.m.path('tasks/%d' % tid)))
        self.assertTrue(os.path.isfile(self.m.path('tasks/%d/wait' % tid)))
        self.assertTrue(os.path.isfile(self.m.path('wait')))
        # so that copying or searching the whole mount never blocks on one
        for argv in (['grep', '-r', 'no-such-needle', self.m.mnt],
                     ['cp', '-r', self.m.mnt, os.path.join(self.tmp, 'copy')],
                     ['tar', 'cf', os.path.join(self.tmp, 'x.tar'), '-C', self.m.mnt, '.']):
            r = paitest.run(argv, timeout=GUARD)
            # a worker's links come and go with its runs: one listed and
            # gone when read is a live mount's race, not a block
            gone = [l for l in r.stderr.splitlines()
                    if '/workers/' in l and 'No such file or directory' in l]
            ok = r.returncode in (0, 1) or (
                r.returncode == 2 and r.stderr.strip() and
                len(gone) == len(r.stderr.strip().splitlines()))
            self.assertTrue(ok, (argv, r.returncode, r.stderr))
        self.assertEqual(self.m.state(tid), 'running')
        self.open_gate()

    # ---- wait at the root --------------------------------------------------
    def test_root_wait_counts_once_the_queue_drains(self):
        a = self.gated()
        b = self.gated(then='exit 1')
        self.m.submit('{"prompt": "true", "depends": [%d]}' % a)   # waiting
        reader = self.cat('wait')
        self.wait_blocked([reader])
        self.assertEqual(os.stat(self.m.path('wait')).st_size, 0)
        self.open_gate()
        out, err = reader.communicate(timeout=GUARD)
        self.assertEqual((reader.returncode, err), (0, ''))
        counts = paitest.parse_kv(out)
        self.assertEqual(counts['queued'], '0')
        self.assertEqual(counts['waiting'], '0')
        self.assertEqual(counts['running'], '0')
        self.assertEqual(counts['done'], '2')
        self.assertEqual(counts['failed'], '1')
        self.assertEqual(sorted(counts), sorted(
            ['queued', 'running', 'done', 'failed', 'cancelled', 'merged',
             'waiting', 'blocked', 'rejected']))
        self.assertEqual(self.m.state(b), 'failed')
        # drained: it answers at once, as often as asked
        self.assertEqual(self.m.read('wait'), out)

    # ---- ^C -----------------------------------------------------------------
    def test_interrupted_read_says_eintr(self):
        tid = self.gated()
        r = subprocess.Popen([sys.executable, '-c', READER,
                              self.m.path('tasks/%d/wait' % tid)],
                             stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: r.poll() is None and r.kill())
        self.assertEqual(r.stdout.readline().strip(), 'open')
        self.wait_blocked([r])
        r.send_signal(signal.SIGINT)
        out, _ = r.communicate(timeout=GUARD)
        n, e, _text = out.split()
        self.assertEqual((int(n), int(e)), (-1, errno.EINTR))
        self.assertEqual(self.m.state(tid), 'running')

        # cat, as a person's ^C ends it
        c = subprocess.Popen(['cat', self.m.path('tasks/%d/wait' % tid)],
                             stdout=subprocess.PIPE)
        self.addCleanup(lambda: c.poll() is None and c.kill())
        self.wait_blocked([c])
        c.send_signal(signal.SIGINT)
        c.communicate(timeout=GUARD)
        self.assertEqual(c.returncode, -signal.SIGINT)

        # the mount is fine, and the next reader gets its answer
        self.assertIn('running', self.m.read('status'))
        again = self.cat('tasks/%d/wait' % tid)
        self.wait_blocked([again])
        self.open_gate()
        self.assertEqual(again.communicate(timeout=GUARD)[0], 'done\n')

    # ---- the daemon stops ----------------------------------------------------
    def test_stopping_ends_blocked_reads(self):
        tid = self.gated()
        readers = [self.cat('tasks/%d/wait' % tid) for _ in range(5)]
        readers.append(self.cat('wait'))
        self.wait_blocked(readers)
        self.m.proc.send_signal(signal.SIGTERM)
        for r in readers:
            out, err = r.communicate(timeout=GUARD)
            self.assertNotEqual(r.returncode, 0)
            self.assertEqual(out, '')
            self.assertIn('Input/output error', err)
        self.assertEqual(self.m.proc.wait(GUARD), 0)
        # the mount is gone: the event log is read where the daemon keeps it
        with open(os.path.join(self.m.repo, '.git', 'parallelai', 'events.jsonl')) as f:
            ev = [json.loads(line) for line in f if '"wait_ended"' in line]
        self.assertEqual(len(ev), 1, ev)
        self.assertIn('6 blocked reads', ev[0]['reason'])

    def test_unmount_ends_blocked_reads(self):
        tid = self.gated()
        readers = [self.cat('tasks/%d/wait' % tid) for _ in range(3)]
        readers.append(self.cat('wait'))
        self.wait_blocked(readers)
        # a plain unmount refuses while files are in use, the mount goes on
        r = paitest.run(['fusermount3', '-u', self.m.mnt], timeout=GUARD)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('busy', r.stderr)
        self.assertIn('running: 1', self.m.read('status'))
        self.assertTrue(all(p.poll() is None for p in readers))
        # a lazy one takes the mount away: the reads end, then the daemon
        r = paitest.run(['fusermount3', '-u', '-z', self.m.mnt], timeout=GUARD)
        self.assertEqual(r.returncode, 0, r.stderr)
        for p in readers:
            out, err = p.communicate(timeout=GUARD)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('Input/output error', err)
        self.assertEqual(self.m.proc.wait(GUARD), 0)
        with open(os.path.join(self.m.repo, '.git', 'parallelai', 'events.jsonl')) as f:
            ev = [json.loads(line) for line in f if '"wait_ended"' in line]
        self.assertEqual(len(ev), 1, ev)
        self.assertIn('4 blocked reads', ev[0]['reason'])

    # ---- select(2) and poll(2) -------------------------------------------------
    def test_select_over_fifty_tasks(self):
        ids = [self.gated() for _ in range(50)]
        fds = {os.open(self.m.path('tasks/%d/wait' % t), os.O_RDONLY): t for t in ids}
        root = os.open(self.m.path('wait'), os.O_RDONLY)
        self.addCleanup(lambda: [os.close(f) for f in list(fds) + [root]])
        # nothing ended: not one is readable (a zero timeout: a look, not a wait)
        ready, _, _ = select.select(list(fds) + [root], [], [], 0)
        self.assertEqual(ready, [])
        self.open_gate()
        said = {}
        while len(said) < len(fds):
            # each select returns when another task ends: told by the
            # daemon. The kernel polls every file once more when a select
            # times out, so one that ran out its guard hung, ready or not.
            began = time.monotonic()
            ready, _, _ = select.select([f for f in fds if f not in said], [], [], GUARD)
            self.assertLess(time.monotonic() - began, GUARD,
                            'select hangs: %d of 50 said' % len(said))
            self.assertTrue(ready)
            for f in ready:
                said[f] = os.read(f, 64).decode()
        self.assertEqual(set(said.values()), {'done\n'})
        p = select.poll()
        p.register(root, select.POLLIN)
        began = time.monotonic()
        self.assertEqual(p.poll(GUARD * 1000), [(root, select.POLLIN)])
        self.assertLess(time.monotonic() - began, GUARD, 'poll hangs')
        self.assertIn('done: 50', os.read(root, 4096).decode())

    # ---- many readers ----------------------------------------------------------
    def test_five_hundred_readers_leave_the_mount_answering(self):
        tid = self.gated()
        readers = [self.cat('tasks/%d/wait' % tid) for _ in range(500)]
        self.wait_blocked(readers)
        r = paitest.run(['ls', self.m.mnt], timeout=GUARD)
        self.assertEqual(r.returncode, 0)
        self.assertIn('tasks', r.stdout.split())
        r = paitest.run(['cat', self.m.path('status')], timeout=GUARD)
        self.assertEqual(r.returncode, 0)
        self.assertIn('running: 1', r.stdout)
        r = paitest.sh("echo true > '%s'" % self.m.path('tasks/new'), timeout=GUARD)
        self.assertEqual((r.returncode, r.stderr), (0, ''))
        self.assertDone(tid + 1, GUARD)
        self.assertTrue(all(p.poll() is None for p in readers))
        self.open_gate()
        for p in readers:
            self.assertEqual(p.communicate(timeout=GUARD)[0], 'done\n')


if __name__ == '__main__':
    paitest.main()
