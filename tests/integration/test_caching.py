#!/usr/bin/python3
"""What the kernel keeps of the mount, and that it never shows old text.

A finished task's prompt, diff, files and task.json are opened with
keep_cache (the kernel keeps their pages between opens), names are kept
(entry_timeout) and `ls -l tasks/` gets the tasks' attributes with the
listing (readdirplus). Each test here reads a kept file through the mount
(twice, so its pages are kept), changes the task with a command (retry,
rescan, merge) and reads again: the new text at once. The changes keep
the file's size where they can, so that only an invalidation (the watch's
listener, or the kernel's own check of mtime) can show it. Live files
stay live: `tail -f` of a running task's log follows it.

Tasks are shell tasks held at gates (files the test creates), so when a
task ends is the test's choice, never a timing.
"""

import json
import os
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, wait_for  # noqa: E402


class CachingCase(PaiTestCase):

    def prepare_repo(self, repo):
        self.marks = os.path.join(self.tmp, 'marks')
        os.makedirs(self.marks)
        git(repo, 'config', 'engine.sh.bindRw', self.marks)

    def mark(self, name):
        return os.path.join(self.marks, name)

    def read_twice(self, rel):
        """Read as cat does, twice: the second open finds kept pages."""
        first = self.m.read(rel)
        self.assertEqual(self.m.read(rel), first)
        return first

    def task_json(self, tid):
        return json.loads(self.read_twice('tasks/%d/task.json' % tid))


class TestInvalidation(CachingCase):

    def test_retry_shows_new_diff_and_state(self):
        # First run: out.txt says aaa and the task fails; the retry
        # writes bbb (same size) and is done.
        tid = self.m.submit(
            'if [ -e %s ]; then echo bbb > out.txt; else touch %s;'
            ' echo aaa > out.txt; exit 1; fi\n'
            % (self.mark('again'), self.mark('again')))
        self.assertEqual(self.m.wait_final(tid), 'failed')
        self.assertEqual(self.task_json(tid)['state'], 'failed')
        before = self.read_twice('tasks/%d/diff' % tid)
        self.read_twice('tasks/%d/files' % tid)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), 0)
        self.assertDone(tid)
        self.assertEqual(self.task_json(tid)['state'], 'done')
        self.assertEqual(self.m.state(tid), 'done')
        after = self.m.read('tasks/%d/diff' % tid)
        self.assertIn('+bbb', after)
        self.assertNotIn('+aaa', after)
        if '+aaa' in before:
            self.assertEqual(len(after), len(before))
        self.assertIn('out.txt', self.m.read('tasks/%d/files' % tid))

    def test_rescan_shows_the_moved_branch(self):
        tid = self.m.submit('echo aaa > out.txt\n')
        self.assertDone(tid)
        before = self.read_twice('tasks/%d/diff' % tid)
        self.assertIn('+aaa', before)
        self.task_json(tid)
        # The task's branch moves outside the mount: same size of text.
        wt = os.path.realpath(self.m.path('tasks/%d/worktree' % tid))
        with open(os.path.join(wt, 'out.txt'), 'w') as f:
            f.write('bbb\n')
        git(wt, 'commit', '-qam', 'by hand')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'rescan\n'), 0)
        after = self.m.read('tasks/%d/diff' % tid)
        self.assertIn('+bbb', after)
        self.assertNotIn('+aaa', after)
        self.assertEqual(len(after), len(before))

    def test_merge_shows_merged(self):
        tid = self.m.submit('echo aaa > out.txt\n')
        self.assertDone(tid)
        self.assertEqual(self.task_json(tid)['state'], 'done')
        self.assertEqual(self.m.ctl('ctl', 'merge %d\n' % tid), 0)
        self.m.wait_state(tid, 'merged')
        self.assertEqual(json.loads(
            self.m.read('tasks/%d/task.json' % tid))['state'], 'merged')
        self.assertEqual(self.m.state(tid), 'merged')

    def test_listing_then_stat_sees_the_change(self):
        # ls -l: the listing carries the task directories' attributes;
        # a later stat must still see the task change.
        tid = self.m.submit('while [ ! -e %s ]; do sleep 0.05; done\n'
                            % self.mark('gate'))
        self.m.wait_state(tid, 'running')
        listed = subprocess.run(['ls', '-l', self.m.path('tasks')],
                                capture_output=True, text=True, check=True)
        self.assertIn(' %d\n' % tid, listed.stdout)
        was = os.stat(self.m.path('tasks/%d' % tid)).st_mtime_ns
        with open(self.mark('gate'), 'w'):
            pass
        self.assertDone(tid)
        self.assertGreater(os.stat(self.m.path('tasks/%d' % tid)).st_mtime_ns,
                           was)


class TestKept(CachingCase):
    """The kernel keeps an ended task's attributes and listing until the
    task's record changes; the daemon tells it when it does."""

    def log_on_disk(self, tid):
        return os.path.join(self.m.repo, '.git', 'parallelai', 'logs',
                            '%d.log' % tid)

    def test_an_ended_tasks_log_size_is_kept_until_it_changes(self):
        tid = self.m.submit('echo one\n')
        self.assertDone(tid)
        log = self.m.path('tasks/%d/log' % tid)
        size = os.stat(log).st_size
        self.assertEqual(size, os.path.getsize(self.log_on_disk(tid)))
        # Behind the daemon's back: no change of the task, nothing told,
        # and the kernel answers stat from what it keeps.
        with open(self.log_on_disk(tid), 'a') as f:
            f.write('behind\n')
        self.assertEqual(os.stat(log).st_size, size)
        # A change of the task's record drops it.
        self.assertEqual(self.m.ctl('ctl', 'merge %d\n' % tid), 0)
        self.m.wait_state(tid, 'merged')
        wait_for(lambda: os.stat(log).st_size == size + len('behind\n'),
                 timeout=20, msg='the size told after the merge')
        self.assertIn('behind', self.m.read('tasks/%d/log' % tid))

    def test_a_running_tasks_log_size_is_never_kept(self):
        tid = self.m.submit('echo one; while [ ! -e %s ]; do sleep 0.05;'
                            ' done\n' % self.mark('gate'))
        self.m.wait_state(tid, 'running')
        log = self.m.path('tasks/%d/log' % tid)
        wait_for(lambda: os.stat(log).st_size > 0, msg='the first line')
        size = os.stat(log).st_size
        with open(self.log_on_disk(tid), 'a') as f:
            f.write('behind\n')
        self.assertEqual(os.stat(log).st_size, size + len('behind\n'))
        with open(self.mark('gate'), 'w'):
            pass
        self.assertDone(tid)

    def test_an_ended_tasks_listing_follows_a_retry(self):
        # Listed once ended (kept by the kernel), then run again: the
        # running task's worker link is listed, and gone once it ended.
        tid = self.m.submit('if [ ! -e %s ]; then touch %s; exit 1; fi;'
                            ' while [ ! -e %s ]; do sleep 0.05; done\n'
                            % (self.mark('again'), self.mark('again'),
                               self.mark('gate')))
        self.assertEqual(self.m.wait_final(tid), 'failed')
        d = self.m.path('tasks/%d' % tid)
        self.assertNotIn('worker', os.listdir(d))
        self.assertNotIn('worker', os.listdir(d))
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), 0)
        self.m.wait_state(tid, 'running')
        wait_for(lambda: 'worker' in os.listdir(d),
                 msg='the worker link listed while it runs')
        with open(self.mark('gate'), 'w'):
            pass
        self.assertDone(tid)
        wait_for(lambda: 'worker' not in os.listdir(d),
                 msg='the worker link gone once it ended')


class TestListing(CachingCase):

    def test_a_long_listing_pages_without_loss(self):
        # tasks/ is listed a kernel buffer at a time (a page of ids from
        # the store each): more tasks than a page and than a buffer, and
        # each listed once, ls -l's attributes those of a stat.
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        want = 700
        for i in range(want):
            self.m.write_new('echo %d\n' % i)
        names = os.listdir(self.m.path('tasks'))
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(sorted(names),
                         sorted(['new'] + [str(i) for i in range(1, want + 1)]))
        out = subprocess.run(['ls', '-l', '--time-style=+%s',
                              self.m.path('tasks')],
                             capture_output=True, text=True, check=True)
        rows = [r.split() for r in out.stdout.splitlines()[1:]]
        self.assertEqual(len(rows), want + 1)
        for r in rows:
            if r[-1] == 'new':
                continue
            st = os.stat(self.m.path('tasks/' + r[-1]))
            self.assertTrue(r[0].startswith('d'), r)
            self.assertEqual(int(r[-2]), int(st.st_mtime), r)
        # a listing that goes on after a task was made sees the old ones
        # once each, and whether it sees the new one is its affair
        fd = os.open(self.m.path('tasks'), os.O_RDONLY | os.O_DIRECTORY)
        self.addCleanup(os.close, fd)
        with os.scandir(fd) as it:
            first = next(it).name
            self.m.write_new('echo late\n')
            rest = [e.name for e in it]
        seen = [first] + rest
        self.assertEqual(len(seen), len(set(seen)))
        self.assertTrue(set(names) <= set(seen))


class TestLive(CachingCase):

    def test_tail_f_follows_a_running_log(self):
        tid = self.m.submit(
            'echo first-line; while [ ! -e %s ]; do sleep 0.05; done;'
            ' echo second-line; while [ ! -e %s ]; do sleep 0.05; done\n'
            % (self.mark('one'), self.mark('two')))
        self.m.wait_state(tid, 'running')
        wait_for(lambda: 'first-line' in self.m.read('tasks/%d/log' % tid),
                 msg='the first line in the log')
        out = os.path.join(self.tmp, 'tail.out')
        with open(out, 'w') as f:
            tail = subprocess.Popen(
                ['tail', '-s', '0.1', '-f', self.m.path('tasks/%d/log' % tid)],
                stdout=f, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (tail.kill(), tail.wait()))

        def tailed():
            with open(out) as f:
                return f.read()
        wait_for(lambda: 'first-line' in tailed(), msg='tail shows line 1')
        self.assertNotIn('second-line', tailed())
        with open(self.mark('one'), 'w'):
            pass
        wait_for(lambda: 'second-line' in tailed(), msg='tail follows')
        with open(self.mark('two'), 'w'):
            pass
        self.assertDone(tid)

    def test_log_reads_are_the_files_bytes(self):
        # A log is answered by splice from its descriptor (read_buf):
        # through one open handle, at any offset, before and after it
        # grows, the mount gives the file's bytes, and stat its size at
        # once (no attribute is kept).
        tid = self.m.submit(
            'seq 1 50000; while [ ! -e %s ]; do sleep 0.05; done;'
            ' seq 50001 120000; while [ ! -e %s ]; do sleep 0.05; done\n'
            % (self.mark('one'), self.mark('two')))
        disk = os.path.join(self.m.repo, '.git', 'parallelai', 'logs',
                            '%d.log' % tid)
        mnt = self.m.path('tasks/%d/log' % tid)

        def on_disk():
            with open(disk, 'rb') as f:
                return f.read()
        wait_for(lambda: os.path.exists(disk) and b'\n50000\n' in on_disk(),
                 msg='the first part in the log')
        fd = os.open(mnt, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        self.check_reads(fd, mnt, on_disk())
        old = len(on_disk())
        with open(self.mark('one'), 'w'):
            pass
        wait_for(lambda: b'\n120000\n' in on_disk(), msg='the log grew')
        grown = on_disk()
        self.assertGreater(len(grown), old)
        self.check_reads(fd, mnt, grown)
        self.assertEqual(os.pread(fd, 20000, old - 5000),
                         grown[old - 5000:old + 15000])
        with open(self.mark('two'), 'w'):
            pass
        self.assertDone(tid)
        self.assertEqual(os.stat(self.m.path('tasks/%d/status' % tid)).st_size,
                         len(self.m.read('tasks/%d/status' % tid).encode()))

    def check_reads(self, fd, mnt, want):
        self.assertEqual(os.stat(mnt).st_size, len(want))
        # a request's worth a read(2) for cat and cp
        self.assertEqual(os.stat(mnt).st_blksize, 1 << 20)
        self.assertEqual(os.fstat(fd).st_size, len(want))
        with open(mnt, 'rb') as f:
            self.assertEqual(f.read(), want)
        for off in (0, 1, 4095, 4096, 12345, len(want) // 2,
                    len(want) - 10, len(want), len(want) + 100):
            for size in (1, 100, 8192, 200000):
                self.assertEqual(os.pread(fd, size, off),
                                 want[off:off + size], (off, size))


if __name__ == '__main__':
    paitest.main()
