#!/usr/bin/python3
"""Everyday use: tail -f of a worker's log across tasks, copying and
searching the whole mount, times that move only with content, and the
small things a newcomer meets (README, --help, editors' litter)."""

import os
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, run, sh, wait_for  # noqa: E402


def gate(tmp, name):
    """A path a task waits for: the test creates it to let the task end."""
    return os.path.join(tmp, name)


class TestWorkerLog(PaiTestCase):
    """workers/N/log follows the worker: task after task, once each."""

    workers = 1

    def follow(self, argv):
        out = os.path.join(self.tmp, 'follow.out')
        err = os.path.join(self.tmp, 'follow.err')
        with open(out, 'wb') as o, open(err, 'wb') as e:
            p = subprocess.Popen(argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL)

        def stop():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(10)
        self.addCleanup(stop)
        return p, out, err, stop

    def three_tasks(self):
        """A runs until released, B and C queue behind it on worker 1."""
        a_gate = gate(self.tmp, 'a-go')
        # the output words are not in the prompts, which the headers show
        a = self.m.submit('echo alpha-"one"; while [ ! -e %s ]; do sleep 0.05; done; '
                          'echo alpha-"two"\n' % a_gate)
        wait_for(lambda: 'alpha-one' in self.m.read('tasks/%d/log' % a), 30,
                 msg='task A to print')
        b = self.m.submit('echo bravo-"line"\n')
        c = self.m.submit('echo charlie-"line"\n')
        return a, b, c, a_gate

    def assert_once_in_order(self, text, words):
        at = -1
        for w in words:
            self.assertEqual(text.count(w), 1, '%r not seen exactly once in:\n%s' % (w, text))
            self.assertGreater(text.index(w), at, '%r out of order in:\n%s' % (w, text))
            at = text.index(w)

    def test_tail_f_sees_three_tasks_in_order_once(self):
        a, b, c, a_gate = self.three_tasks()
        p, out, err, stop = self.follow(['tail', '-f', self.m.path('workers/1/log')])
        wait_for(lambda: 'alpha-one' in open(out).read(), 20, msg='tail to start')
        open(a_gate, 'w').close()
        for t in (a, b, c):
            self.assertDone(t)
        wait_for(lambda: 'charlie-line' in open(out).read(), 20,
                 msg='tail -f to show task C')
        time.sleep(1.5)   # one more poll of tail's: nothing may be replayed
        stop()
        text = open(out).read()
        self.assert_once_in_order(text, [
            'alpha-one', 'alpha-two',
            '--- task %d: echo bravo-"line" ---' % b, 'bravo-line\n',
            '--- task %d: echo charlie-"line" ---' % c, 'charlie-line\n'])
        self.assertNotIn('truncated', open(err).read())

    def test_a_program_polling_at_eof_sees_each_task_once(self):
        a, b, c, a_gate = self.three_tasks()
        got = b''
        with open(self.m.path('workers/1/log'), 'rb') as f:
            size0 = os.fstat(f.fileno()).st_size
            got += f.read()
            open(a_gate, 'w').close()
            deadline = time.monotonic() + 30
            while b'charlie-line' not in got and time.monotonic() < deadline:
                chunk = f.read()
                self.assertGreaterEqual(os.fstat(f.fileno()).st_size, size0, 'log shrank')
                got += chunk
                if not chunk:
                    time.sleep(0.1)
        self.assert_once_in_order(got.decode(), [
            'alpha-one', 'alpha-two', 'bravo-line\n', 'charlie-line\n'])

    def test_cat_shows_the_last_task(self):
        t = self.m.submit('echo first-task\n')
        self.assertDone(t)
        u = self.m.submit('echo second-task\n')
        self.assertDone(u)
        text = self.m.read('workers/1/log')
        self.assertIn('--- task %d: echo second-task ---\n' % u, text)
        self.assertIn('second-task\n', text.split('---\n', 1)[1])
        self.assertEqual(os.stat(self.m.path('workers/1/log')).st_size, len(text.encode()))

    def test_header_of_a_multiline_prompt_is_one_line(self):
        t = self.m.submit('echo one\necho two\n')
        self.assertDone(t)
        first = self.m.read('workers/1/log').split('\n', 1)[0]
        self.assertEqual(first, '--- task %d: echo one ---' % t)


class TestCopyAndSearch(PaiTestCase):
    """cp -r, rsync -a, tar and grep -r of a mount with tasks in every state."""

    def setUp(self):
        super().setUp()
        self.done = self.m.submit('echo hello > hello.txt; echo needle-word\n')
        self.failed = self.m.submit('echo oops >&2; exit 3\n')
        self.assertDone(self.done)
        self.m.wait_final(self.failed)
        # running, and quiet: its log does not grow while tar reads it
        self.running = self.m.submit('sleep 120\n')
        self.m.wait_state(self.running, 'running')
        self.m.pid_of(self.running)

    def tearDown(self):
        self.m.ctl('tasks/%d/ctl' % self.running, 'cancel\n')

    def test_cp_r(self):
        r = run(['cp', '-r', self.m.mnt, os.path.join(self.tmp, 'copy')])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.tmp, 'copy', 'ctl')) as f:
            self.assertIn('merge ID|all', f.read())

    def test_rsync_a(self):
        if not shutil.which('rsync'):
            self.fail('rsync is not installed (contrib/install-deps installs it)')
        r = run(['rsync', '-a', self.m.mnt + '/', os.path.join(self.tmp, 'copy')])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_tar(self):
        r = run(['tar', 'cf', os.path.join(self.tmp, 'x.tar'), '-C', self.m.mnt, '.'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, '')

    def test_grep_r(self):
        r = run(['grep', '-r', 'needle-word', self.m.mnt])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('tasks/%d/log' % self.done, r.stdout)

    def test_ctl_reads_back_its_commands(self):
        self.assertIn('workers N\n', self.m.read('ctl'))
        self.assertIn('cancel\n', self.m.read('tasks/%d/ctl' % self.done))


class TestTimes(PaiTestCase):
    """A generated file's mtime is when its content last changed."""

    FILES = ('status', 'status.json', 'metrics', 'conflicts', 'merge-order',
             'workers/1/status', 'workers/2/status')

    def mtimes(self):
        return {f: os.stat(self.m.path(f)).st_mtime_ns for f in self.FILES}

    def test_idle_files_keep_their_times(self):
        t = self.m.submit('echo x > x.txt\n')
        self.assertDone(t)
        before = self.mtimes()
        task_before = os.stat(self.m.path('tasks/%d/status' % t)).st_mtime_ns
        time.sleep(1.2)
        self.assertEqual(self.mtimes(), before)
        self.assertEqual(os.stat(self.m.path('tasks/%d/status' % t)).st_mtime_ns, task_before)
        ref = os.path.join(self.tmp, 'ref')
        open(ref, 'w').close()
        time.sleep(0.05)
        r = run(['find', self.m.mnt, '-newer', ref])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, '')

    def test_status_time_moves_when_it_changes(self):
        before = self.mtimes()
        time.sleep(0.05)
        t = self.m.submit('true\n')
        self.assertDone(t)
        after = self.mtimes()
        self.assertGreater(after['status'], before['status'])
        self.assertGreater(after['metrics'], before['metrics'])

    def test_tar_of_an_idle_mount_warns_of_nothing(self):
        t = self.m.submit('echo y > y.txt\n')
        self.assertDone(t)
        r = run(['tar', 'cf', os.path.join(self.tmp, 'x.tar'), '-C', self.m.mnt, '.'])
        self.assertEqual((r.returncode, r.stderr), (0, ''))


class TestNewcomer(PaiTestCase):

    def test_readme_lists_every_state(self):
        text = self.m.read('README')
        for state in ('queued', 'waiting', 'blocked', 'running', 'done', 'failed',
                      'cancelled', 'merged'):
            self.assertIn(state, text)

    def test_editor_litter_is_refused_quietly(self):
        before = len(self.refused_events())
        for name in ('.#new', '.new.swp', 'new~', '4913', '#new#'):
            p = self.m.path('tasks/' + name)
            with self.assertRaises(OSError):
                os.symlink('x', p) if name.startswith('.#') else open(p, 'w').close()
        self.assertEqual(len(self.refused_events()), before)
        with self.assertRaises(OSError):
            open(self.m.path('tasks/notes.txt'), 'w').close()
        self.assertEqual(len(self.refused_events()), before + 1)

    def test_help_names_the_generic_option_and_subcommands(self):
        r = run([paitest.PAI_BIN, '--help'])
        self.assertEqual(r.returncode, 0)
        self.assertIn('KEY=VALUE', r.stdout)
        self.assertIn('allow_users', r.stdout)
        for sub in ('parallelai agent', 'parallelai stream'):
            self.assertIn(sub, r.stdout)

    def test_option_keys_are_case_insensitive_as_in_git_config(self):
        mnt = os.path.join(self.tmp, 'mnt2')
        os.makedirs(mnt)
        r = run([paitest.PAI_BIN, '-f', '-o', 'retryMax=5,mergeStrategy=bogus',
                 self.m.repo, mnt])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("invalid value for 'mergestrategy': 'bogus'", r.stderr)


if __name__ == '__main__':
    paitest.main()
