#!/usr/bin/python3
"""Commands: cancel, retry, pause/resume, workers N, through the ctl files."""

import errno
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, pid_alive, sh, wait_for  # noqa: E402


class MarksTestCase(PaiTestCase):
    """Engines leave marker files outside their worktrees, in a directory
    bound writable into the sandbox."""

    def prepare_repo(self, repo):
        self.marks = os.path.join(self.tmp, 'marks')
        os.makedirs(self.marks)
        git(repo, 'config', 'engine.sh.bindRw', self.marks)


class TestCancel(MarksTestCase):

    def test_cancel_running_task(self):
        tid = self.m.submit('sleep 60\n')
        self.m.wait_state(tid, 'running')
        pid = self.m.pid_of(tid)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')
        wait_for(lambda: not pid_alive(pid), 30, msg='engine %d to be gone' % pid)
        self.assertTrue(self.m.events_of('cancelled', tid))
        self.assertEqual(self.m.kv('status').get('cancelled'), '1')

    def test_cancel_with_echo_redirect(self):
        tid = self.m.submit('sleep 60\n')
        self.m.wait_state(tid, 'running')
        r = sh('echo cancel > %s/tasks/%d/ctl' % (self.m.mnt, tid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')

    def test_cancel_kills_whole_process_group(self):
        pidfile = os.path.join(self.marks, 'child.pid')
        # the child's pid as the test sees it: no PID namespace
        tid = self.m.submit(json.dumps({'prompt': 'sleep 60 & echo $! > %s; wait\n' % pidfile,
                                        'sandbox': 'none'}))
        self.m.wait_state(tid, 'running')
        wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(), 20, msg='child pid')
        child = int(open(pidfile).read())
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel'), 0)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')
        wait_for(lambda: not pid_alive(child), 30, msg='background child %d to be killed' % child)

    def test_cancel_asks_the_whole_group_to_stop_first(self):
        # SIGTERM goes to the engine's process group, so a child can end
        # cleanly; SIGKILL by the run's tag alone would give it no chance
        mark = os.path.join(self.marks, 'child-got-term')
        ready = os.path.join(self.marks, 'child-ready')
        # the engine ignores TERM (set after the child started, which
        # keeps its own) and waits: only a signal to the group reaches
        # the child before the SIGKILL that follows killGrace
        tid = self.m.submit(
            "sh -c 'trap \"echo term > %s; exit 0\" TERM; touch %s; "
            "sleep 60 & wait $!' & trap '' TERM; wait\n" % (mark, ready))
        self.m.wait_state(tid, 'running')
        wait_for(lambda: os.path.exists(ready), 20, msg='the child to trap TERM')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel'), 0)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')
        wait_for(lambda: os.path.exists(mark), 10, msg='the child to get SIGTERM')

    def test_cancel_kills_engine_that_ignores_sigterm(self):
        marker = os.path.join(self.marks, 'trapped')
        tid = self.m.submit("trap '' TERM; touch %s; sleep 120\n" % marker)
        self.m.wait_state(tid, 'running')
        wait_for(lambda: os.path.exists(marker), 20, msg='trap to be set')
        pid = self.m.pid_of(tid)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.assertEqual(self.m.wait_final(tid, 60), 'cancelled')
        wait_for(lambda: not pid_alive(pid), 60, msg='SIGKILL after the grace period')

    def test_cancel_right_after_submit_leaves_no_engine(self):
        # cancel lands while the task is queued, its worktree being made, or
        # its engine just starting: it ends cancelled with nothing left running
        for _ in range(6):
            tid = self.m.submit('sleep 60\n')
            self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
            self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')
        wt = os.path.realpath(self.m.kv('status')['worktree_dir'])
        wait_for(lambda: not paitest.pids_under(wt), 30, msg='no engine left in any worktree')
        time.sleep(0.5)
        for tid in self.m.task_ids():
            self.assertEqual(self.m.state(tid), 'cancelled')
        self.assertEqual(paitest.pids_under(wt), [])
        self.assertEqual(self.m.kv('status').get('busy'), '0')

    def test_cancel_queued_task_never_starts(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        tid = self.m.submit('echo should-not-run > ran.txt\n')
        self.assertEqual(self.m.state(tid), 'queued')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.assertEqual(self.m.state(tid), 'cancelled')
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        other = self.m.submit('true\n')
        self.m.wait_final(other)
        self.assertEqual(self.m.state(tid), 'cancelled')
        self.assertFalse(self.m.events_of('started', tid))
        self.assertNotIn('should-not-run', self.m.read('tasks/%d/log' % tid))

    def test_root_ctl_cancel_id(self):
        tid = self.m.submit('sleep 60\n')
        self.m.wait_state(tid, 'running')
        self.assertEqual(self.m.ctl('ctl', 'cancel %d\n' % tid), 0)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')

    def test_cancel_done_task_is_ebusy(self):
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), errno.EBUSY)
        self.assertErrno(self.m.ctl('ctl', 'cancel %d\n' % tid), errno.EBUSY)
        self.assertEqual(self.m.state(tid), 'done')
        self.assertTrue(self.refused_events())

    def test_cancel_missing_task_is_enoent(self):
        self.assertErrno(self.m.ctl('ctl', 'cancel 999\n'), errno.ENOENT)
        self.assertTrue(self.refused_events())


class TestRetry(MarksTestCase):

    def flaky(self):
        marker = os.path.join(self.marks, 'second-time')
        return ('if [ -e %s ]; then echo second-try; else touch %s; echo first-try; exit 1; fi\n'
                % (marker, marker))

    def test_retry_failed_task_runs_again(self):
        tid = self.m.submit(self.flaky())
        self.assertEqual(self.m.wait_final(tid), 'failed')
        self.assertEqual(self.m.status(tid).get('attempts'), '1')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), 0)
        self.assertDone(tid)
        st = self.m.status(tid)
        self.assertEqual(st.get('attempts'), '2')
        self.assertEqual(st.get('exit'), '0')
        self.assertIn('second-try', self.m.read('tasks/%d/log' % tid))
        self.assertTrue(self.m.events_of('retried', tid))

    def test_retry_cancelled_task_runs_again(self):
        marker = os.path.join(self.marks, 'again')
        tid = self.m.submit('if [ -e %s ]; then exit 0; fi; touch %s; sleep 60\n' % (marker, marker))
        self.m.wait_state(tid, 'running')
        wait_for(lambda: os.path.exists(marker), 20, msg='first run')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), 0)
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('attempts'), '2')

    def test_root_ctl_retry_id(self):
        tid = self.m.submit(self.flaky())
        self.assertEqual(self.m.wait_final(tid), 'failed')
        self.assertEqual(self.m.ctl('ctl', 'retry %d\n' % tid), 0)
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('attempts'), '2')

    def test_retry_done_task_is_ebusy(self):
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), errno.EBUSY)
        self.assertEqual(self.m.state(tid), 'done')
        self.assertEqual(self.m.status(tid).get('attempts'), '1')

    def test_retry_running_task_is_ebusy(self):
        tid = self.m.submit('sleep 60\n')
        self.m.wait_state(tid, 'running')
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), errno.EBUSY)
        self.assertEqual(self.m.state(tid), 'running')
        self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n')
        self.m.wait_final(tid, 30)


class TestScheduling(PaiTestCase):

    def test_pause_keeps_new_tasks_queued_until_resume(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        self.assertEqual(self.m.kv('status').get('state'), 'paused')
        tid = self.m.submit('true\n')
        time.sleep(1.5)
        self.assertEqual(self.m.state(tid), 'queued')
        self.assertEqual(self.m.kv('status').get('queued'), '1')
        self.assertFalse(self.m.events_of('started', tid))
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        self.assertEqual(self.m.kv('status').get('state'), 'running')
        self.assertDone(tid)

    def test_pause_lets_running_task_finish(self):
        go = os.path.join(self.tmp, 'go')
        tid = self.m.submit('while [ ! -e %s ]; do sleep 0.1; done\n' % go)
        self.m.wait_state(tid, 'running')
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        open(go, 'w').close()
        self.assertDone(tid)

    def test_tasks_run_in_fifo_order(self):
        self.assertEqual(self.m.ctl('ctl', 'workers 1\n'), 0)
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        ids = [self.m.submit('true # %d\n' % i) for i in range(4)]
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        for tid in ids:
            self.m.wait_final(tid)
        started = [e['task'] for e in self.m.events() if e.get('event') == 'started']
        self.assertEqual(started, ids)

    def test_workers_resize_grows_slots(self):
        self.assertEqual(self.m.ctl('ctl', 'workers 4\n'), 0)
        self.assertEqual(sorted(os.listdir(self.m.path('workers'))), ['1', '2', '3', '4'])
        self.assertEqual(self.m.kv('status').get('workers'), '4')
        go = os.path.join(self.tmp, 'go')
        ids = [self.m.submit('while [ ! -e %s ]; do sleep 0.1; done\n' % go) for _ in range(4)]
        for tid in ids:
            self.m.wait_state(tid, 'running')
        self.assertEqual(self.m.kv('status').get('busy'), '4')
        self.assertEqual(sorted(self.m.worker_of(t) for t in ids), [1, 2, 3, 4])
        open(go, 'w').close()
        for tid in ids:
            self.assertDone(tid)

    def test_workers_resize_shrinks_slots(self):
        self.assertEqual(self.m.ctl('ctl', 'workers 1\n'), 0)
        self.assertEqual(os.listdir(self.m.path('workers')), ['1'])
        self.assertEqual(self.m.kv('status').get('workers'), '1')
        go = os.path.join(self.tmp, 'go')
        a = self.m.submit('while [ ! -e %s ]; do sleep 0.1; done\n' % go)
        b = self.m.submit('true\n')
        self.m.wait_state(a, 'running')
        time.sleep(1)
        self.assertEqual(self.m.state(b), 'queued')
        open(go, 'w').close()
        self.assertDone(a)
        self.assertDone(b)

    def test_workers_shrink_while_busy_lets_tasks_finish(self):
        go = os.path.join(self.tmp, 'go')
        a = self.m.submit('while [ ! -e %s ]; do sleep 0.1; done\n' % go)
        b = self.m.submit('while [ ! -e %s ]; do sleep 0.1; done\n' % go)
        self.m.wait_state(a, 'running')
        self.m.wait_state(b, 'running')
        self.assertEqual(self.m.ctl('ctl', 'workers 1\n'), 0)
        open(go, 'w').close()
        self.assertDone(a)
        self.assertDone(b)
        wait_for(lambda: os.listdir(self.m.path('workers')) == ['1'], 20, msg='workers/ to show 1 slot')


class TestCtlRefusals(PaiTestCase):

    def test_unknown_root_command_is_einval(self):
        before = self.m.read('status')
        self.assertErrno(self.m.ctl('ctl', 'frobnicate\n'), errno.EINVAL)
        self.assertEqual(self.m.kv('status').get('state'), 'running')
        self.assertEqual(paitest.parse_kv(before).get('workers'), self.m.kv('status').get('workers'))
        self.assertTrue(self.refused_events())

    def test_unknown_task_command_is_einval(self):
        tid = self.m.submit('true\n')
        self.m.wait_final(tid)
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % tid, 'explode\n'), errno.EINVAL)
        self.assertEqual(self.m.state(tid), 'done')
        self.assertTrue(self.refused_events())

    def test_malformed_workers_is_einval(self):
        for cmd in ('workers\n', 'workers abc\n', 'workers 0\n', 'workers -3\n', 'workers 2x\n'):
            self.assertErrno(self.m.ctl('ctl', cmd), errno.EINVAL)
        self.assertEqual(self.m.kv('status').get('workers'), '2')
        self.assertEqual(sorted(os.listdir(self.m.path('workers'))), ['1', '2'])

    def test_malformed_cancel_id_is_einval(self):
        for cmd in ('cancel\n', 'cancel abc\n', 'retry x1\n'):
            self.assertErrno(self.m.ctl('ctl', cmd), errno.EINVAL)

    def test_root_retry_missing_task_is_enoent(self):
        self.assertErrno(self.m.ctl('ctl', 'retry 4242\n'), errno.ENOENT)

    def test_each_write_is_one_command_with_its_own_error(self):
        fd = os.open(self.m.path('ctl'), os.O_WRONLY)
        try:
            os.write(fd, b'pause\n')
            self.assertEqual(self.m.kv('status').get('state'), 'paused')
            with self.assertRaises(OSError) as cm:
                os.write(fd, b'bogus\n')
            self.assertEqual(cm.exception.errno, errno.EINVAL)
            os.write(fd, b'resume\n')
            self.assertEqual(self.m.kv('status').get('state'), 'running')
        finally:
            os.close(fd)


class TestCtlLines(PaiTestCase):
    """A ctl handle is a stream of lines, however the writes cut it."""

    def nworkers(self):
        return self.m.kv('status').get('workers')

    def test_a_command_cut_across_writes_runs_whole(self):
        fd = os.open(self.m.path('ctl'), os.O_WRONLY)
        try:
            os.write(fd, b'workers 1')
            os.write(fd, b'6\n')
        finally:
            os.close(fd)
        self.assertEqual(self.nworkers(), '16')
        self.assertEqual(self.refused_events(), [])

    def test_cat_of_a_long_file_runs_its_last_command_whole(self):
        # cat writes 128 KiB at a time: the command straddles two writes
        path = os.path.join(self.tmp, 'cmds')
        with open(path, 'wb') as f:
            f.write(b'\n' * 131064 + b'workers 16\n')
        r = sh('cat %s > %s/ctl' % (path, self.m.mnt))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.nworkers(), '16')

    def test_last_line_without_newline_runs_at_close(self):
        self.assertEqual(self.m.ctl('ctl', 'workers 3'), 0)
        self.assertEqual(self.nworkers(), '3')

    def test_a_failing_last_line_fails_close(self):
        self.assertErrno(self.m.ctl('ctl', 'workers 0'), errno.EINVAL)
        self.assertEqual(self.nworkers(), '2')

    def test_an_overlong_line_is_refused_alone(self):
        fd = os.open(self.m.path('ctl'), os.O_WRONLY)
        try:
            with self.assertRaises(OSError) as cm:
                os.write(fd, b'x' * 5000 + b'\n')
            self.assertEqual(cm.exception.errno, errno.EINVAL)
            os.write(fd, b'workers 5\n')
        finally:
            os.close(fd)
        self.assertEqual(self.nworkers(), '5')
        self.assertIn('too long', self.refused_events()[-1].get('reason', ''))

    def test_a_task_ctl_is_a_stream_too(self):
        tid = self.m.submit('sleep 30\n')
        self.m.wait_state(tid, 'running')
        fd = os.open(self.m.path('tasks/%d/ctl' % tid), os.O_WRONLY)
        try:
            os.write(fd, b'can')
            self.assertEqual(self.m.state(tid), 'running')
            os.write(fd, b'cel\n')
        finally:
            os.close(fd)
        self.assertEqual(self.m.wait_final(tid), 'cancelled')


if __name__ == '__main__':
    paitest.main()
