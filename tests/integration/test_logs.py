#!/usr/bin/python3
"""Live logs: tail -f on tasks/N/log and workers/K/log while a task runs."""

import json
import os
import queue
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, wait_for  # noqa: E402

FIVE_LINES = 'for i in 1 2 3 4 5; do echo line$i; sleep 1; done\n'


class Tail:
    """`tail -f` as a subprocess; its lines arrive on a queue."""

    def __init__(self, path):
        self.proc = subprocess.Popen(['tail', '-n', '+1', '-f', path],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.q = queue.Queue()
        self.lines = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for raw in self.proc.stdout:
            self.q.put(raw.decode('utf-8', 'replace').rstrip('\n'))
        self.q.put(None)

    def wait_line(self, text, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('tail -f never showed %r; got %r' % (text, self.lines))
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError('tail exited (%s) before %r; got %r'
                                     % (self.proc.stderr.read(), text, self.lines))
            self.lines.append(line)
            if line == text:
                return

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class TestLiveLogs(PaiTestCase):

    def gated(self, body):
        """A task that waits for a go file, so tail starts before any output."""
        go = os.path.join(self.tmp, 'go-%d' % len(os.listdir(self.tmp)))
        prompt = 'while [ ! -e %s ]; do sleep 0.1; done\n%s' % (go, body)
        return go, self.m.submit(prompt)

    def follow(self, rel_of):
        go, tid = self.gated(FIVE_LINES)
        self.m.wait_state(tid, 'running')
        self.m.pid_of(tid)
        rel = rel_of(tid)
        tail = Tail(self.m.path(rel))
        try:
            time.sleep(0.3)           # let tail open the file and take its first look
            open(go, 'w').close()
            tail.wait_line('line1')
            # line1 came through tail -f while the task still had seconds to run
            self.assertEqual(self.m.state(tid), 'running')
            for i in (2, 3, 4, 5):
                tail.wait_line('line%d' % i)
        finally:
            tail.stop()               # before the unmount: tail holds the file open
        self.assertDone(tid)
        self.assertEqual([ln for ln in tail.lines if ln.startswith('line')],
                         ['line1', 'line2', 'line3', 'line4', 'line5'])
        return tid

    def test_tail_f_follows_task_log(self):
        self.follow(lambda tid: 'tasks/%d/log' % tid)

    def test_tail_f_follows_worker_log(self):
        self.follow(lambda tid: 'workers/%d/log' % self.m.worker_of(tid))

    def test_log_size_is_exact_while_task_runs(self):
        go, tid = self.gated(FIVE_LINES)
        self.m.wait_state(tid, 'running')
        rel = 'tasks/%d/log' % tid
        open(go, 'w').close()
        sizes = set()
        while self.m.state(tid) == 'running':
            before = self.m.read_bytes(rel)
            size = os.stat(self.m.path(rel)).st_size
            after = self.m.read_bytes(rel)
            self.assertLessEqual(len(before), size)
            self.assertLessEqual(size, len(after))
            self.assertTrue(after.startswith(before))
            sizes.add(size)
            time.sleep(0.2)
        # the log was seen at several sizes while it grew
        self.assertGreater(len(sizes), 2, sizes)
        self.m.wait_final(tid)
        data = self.m.read_bytes(rel)
        self.assertEqual(os.stat(self.m.path(rel)).st_size, len(data))

    def test_log_is_identical_through_task_and_worker(self):
        go, tid = self.gated(FIVE_LINES)
        self.m.wait_state(tid, 'running')
        self.m.pid_of(tid)
        k = self.m.worker_of(tid)
        open(go, 'w').close()
        self.m.wait_final(tid)
        a = self.m.read_bytes('tasks/%d/log' % tid)
        b = self.m.read_bytes('workers/%d/log' % k)
        # the worker's log: a header line for the task, then its log
        header, rest = b.split(b'\n', 1)
        self.assertRegex(header.decode(), r'^--- task %d: .* ---$' % tid)
        self.assertEqual(rest, a)
        self.assertIn(b'line5', a)

    def test_large_log_reads_back_complete(self):
        tid = self.m.submit('seq 1 200000\n')
        self.assertDone(tid)
        want = ''.join('%d\n' % i for i in range(1, 200001)).encode()
        got = self.m.read_bytes('tasks/%d/log' % tid)
        self.assertIn(want, got)
        self.assertEqual(os.stat(self.m.path('tasks/%d/log' % tid)).st_size, len(got))

    def test_tail_f_follows_events(self):
        tail = Tail(self.m.path('events'))
        self.addCleanup(tail.stop)

        def seen(name, tid=None):
            while True:
                try:
                    line = tail.q.get_nowait()
                except queue.Empty:
                    break
                if line is None:
                    raise AssertionError('tail exited: %s' % tail.proc.stderr.read())
                tail.lines.append(line)
            return [e for e in map(json.loads, tail.lines)
                    if e.get('event') == name and (tid is None or e.get('task') == tid)]
        # tail has shown the end of the file: it follows from here on
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        wait_for(lambda: seen('paused'), 30, msg='paused event in tail -f events')
        shown = len(tail.lines)
        tid = self.m.submit('true\n')
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        self.m.wait_final(tid)
        wait_for(lambda: seen('finished', tid), 30, msg='finished event in tail -f events')
        # every line written since came through the same tail, in order
        later = [json.loads(ln)['event'] for ln in tail.lines[shown:]]
        self.assertEqual([e for e in later if e in ('created', 'resumed', 'started', 'finished')],
                         ['created', 'resumed', 'started', 'finished'])
        self.assertIsNone(tail.proc.poll())
        # and what it showed is the file, line for line
        self.assertEqual(tail.lines, self.m.read('events').splitlines()[:len(tail.lines)])


if __name__ == '__main__':
    paitest.main()
