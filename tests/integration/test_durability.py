#!/usr/bin/python3
"""Tasks survive kill -9 of the daemon and unmounts; the next mount carries on."""

import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, wait_for  # noqa: E402


class TestDurability(PaiTestCase):

    def prepare_repo(self, repo):
        # where runs count themselves, outside their worktrees: writable
        # in the sandbox
        self.counts = os.path.join(self.tmp, 'counts')
        os.makedirs(self.counts)
        git(repo, 'config', 'engine.sh.bindRw', self.counts)

    def test_kill_9_with_tasks_queued_and_running_then_remount_finishes_all(self):
        running = [self.m.submit('sleep 2; echo ran-%d > ran-%d.txt\n' % (i, i)) for i in range(2)]
        for t in running:
            self.m.wait_state(t, 'running')
        queued = [self.m.submit('echo queued-%d\n' % i) for i in range(4)]
        for t in queued:
            self.assertEqual(self.m.state(t), 'queued')
        prompts = {t: self.m.read('tasks/%d/prompt' % t) for t in running + queued}
        self.m.kill9()
        self.m.remount()
        self.assertEqual(self.m.task_ids(), sorted(running + queued))
        for t, p in prompts.items():
            self.assertEqual(self.m.read('tasks/%d/prompt' % t), p)
        for t in running + queued:
            self.assertDone(t, 90)
        for t in running:
            self.assertTrue(self.m.events_of('requeued', t), 'no requeued event for %d' % t)
            self.assertEqual(self.m.status(t).get('attempts'), '2')
        for i, t in enumerate(running):
            self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:ran-%d.txt' % (t, i)), 'ran-%d\n' % i)
        for i, t in enumerate(queued):
            self.assertIn('queued-%d' % i, self.m.read('tasks/%d/log' % t))
            self.assertEqual(self.m.status(t).get('attempts'), '1')

    def engine_exits_as_daemon_is_killed(self, code):
        """The daemon is killed with -9 while its engine waits on a fifo;
        the engine is let go at once and exits with code while its keeper
        lingers, before anything of the daemon's could record it."""
        runs = os.path.join(self.counts, 'runs')
        fifo = os.path.join(self.m.tmp, 'go')
        os.mkfifo(fifo)
        t = self.m.submit('echo run >> %s; echo work > work.txt; read x < %s; exit %d\n'
                          % (runs, fifo, code))
        self.m.wait_state(t, 'running')
        wait_for(lambda: os.path.exists(runs), 30, msg='the engine to start')
        wt = self.m.status(t)['worktree']
        wait_for(lambda: os.path.exists(os.path.join(wt, 'work.txt')), 30,
                 msg='the engine to write')
        self.m.kill9()
        with open(fifo, 'w') as f:
            f.write('go\n')
        self.m.remount()
        return t, runs

    def test_kill_9_after_the_engine_exited_finishes_the_run_once(self):
        t, runs = self.engine_exits_as_daemon_is_killed(0)
        self.assertDone(t, 60)
        with open(runs) as f:
            self.assertEqual(f.read(), 'run\n', 'the engine ran again')
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:work.txt' % t), 'work\n')
        self.assertTrue(self.m.events_of('recovered', t))
        self.assertFalse(self.m.events_of('requeued', t))
        self.assertEqual(self.m.status(t).get('attempts'), '1')
        self.assertIn('finishing the run', self.m.read('tasks/%d/log' % t))

    def test_kill_9_after_the_engine_failed_records_the_failure_once(self):
        t, runs = self.engine_exits_as_daemon_is_killed(3)
        self.m.wait_state(t, 'failed', 60)
        self.assertEqual(self.m.status(t).get('reason'), 'exit status 3')
        with open(runs) as f:
            self.assertEqual(f.read(), 'run\n', 'the engine ran again')
        # what it wrote is kept on the branch all the same
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:work.txt' % t), 'work\n')

    def test_an_earlier_attempts_exit_does_not_finish_a_later_one(self):
        """The exit a keeper wrote for attempt 1 (left behind had its
        daemon died between the end of that run and removing the file)
        says nothing of attempt 2, killed with its daemon while running."""
        runs = os.path.join(self.counts, 'runs')
        t = self.m.submit('echo run >> %s; [ $(wc -l < %s) -ge 3 ] || sleep 60\n'
                          % (runs, runs))
        for n in (1, 2):
            wait_for(lambda: os.path.exists(runs) and
                     len(open(runs).read().splitlines()) == n, 30,
                     msg='run %d of the engine' % n)
            if n == 2:
                results = os.path.join(self.m.repo, '.git', 'parallelai', 'results')
                with open(os.path.join(results, '%d-1.exit' % t), 'w') as f:
                    f.write('0\n')
            self.m.kill9()
            self.m.remount()
        self.assertDone(t, 60)
        with open(runs) as f:
            self.assertEqual(f.read(), 'run\n' * 3)
        self.assertFalse(self.m.events_of('recovered', t))
        self.assertEqual(self.m.status(t).get('attempts'), '3')

    def test_kill_9_right_after_close_keeps_every_task(self):
        prompts = ['echo quick-%d\n' % i for i in range(5)]
        for p in prompts:
            self.m.write_new(p)
        self.m.kill9()
        self.m.remount()
        ids = self.m.task_ids()
        self.assertEqual(len(ids), 5)
        self.assertEqual(sorted(self.m.read('tasks/%d/prompt' % t) for t in ids), sorted(prompts))
        for t in ids:
            self.assertDone(t, 90)

    def test_kill_9_at_any_moment_then_remount_finishes_all(self):
        # kill -9 lands while worktrees and branches are being made and
        # changes committed; every remount must still bring every task home
        ids = []
        rounds, per = 8, 4
        for round_ in range(rounds):
            for i in range(per):
                self.m.write_new('echo r%d-%d > r%d-%d.txt\n' % (round_, i, round_, i))
            time.sleep(0.01 * (round_ % 4))
            self.m.kill9()
            self.m.remount()
        ids = self.m.task_ids()
        self.assertEqual(len(ids), rounds * per)
        for t in ids:
            self.assertDone(t, 90)
        for t in ids:
            word = self.m.read('tasks/%d/prompt' % t).split()[1]
            self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:%s.txt' % (t, word)), word + '\n')

    def test_kill_9_keeps_finished_task_results(self):
        tid = self.m.submit('echo kept > kept.txt; echo output-kept\n')
        self.assertDone(tid)
        before = {n: self.m.read_bytes('tasks/%d/%s' % (tid, n)) for n in ('log', 'diff', 'files', 'prompt')}
        self.m.kill9()
        self.m.remount()
        self.assertEqual(self.m.state(tid), 'done')
        for n, data in before.items():
            self.assertEqual(self.m.read_bytes('tasks/%d/%s' % (tid, n)), data, n)

    def test_ids_continue_after_remount(self):
        a = self.m.submit('true\n')
        self.m.wait_final(a)
        self.m.kill9()
        self.m.remount()
        b = self.m.submit('true\n')
        self.assertGreater(b, a)
        self.m.wait_final(b)

    def test_unmount_with_task_running_then_remount_finishes(self):
        go = os.path.join(self.tmp, 'go')
        runs = os.path.join(self.counts, 'runs')
        # no retries: an unmount counted as a failure would end it failed
        tid = self.m.submit(json.dumps({
            'prompt': 'echo run >> %s; while [ ! -e %s ]; do sleep 0.1; done; '
                      'echo finished-ok > out.txt' % (runs, go), 'retries': 0}))
        self.m.wait_state(tid, 'running')
        wait_for(lambda: os.path.exists(runs), 30, msg='the engine to start')
        self.m.unmount()
        self.assertFalse(os.path.ismount(self.m.mnt))
        self.m.remount()
        self.assertIn(self.m.state(tid), ('queued', 'running'))
        self.assertEqual([e.get('reason') for e in self.m.events_of('requeued', tid)],
                         ['stopped by unmount'])
        open(go, 'w').close()
        self.assertDone(tid, 90)
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:out.txt' % tid), 'finished-ok\n')
        # the cut attempt is counted, as an attempt, not as a failure
        self.assertEqual(self.m.status(tid).get('attempts'), '2')
        with open(runs) as f:
            self.assertEqual(f.read(), 'run\nrun\n')
        self.assertFalse(self.m.events_of('retrying', tid))
        self.assertEqual([e.get('exit') for e in self.m.events_of('finished', tid)], [0])
        self.assertNotIn('failed', self.m.read('tasks/%d/log' % tid))

    def in_proc_mounts(self):
        with open('/proc/mounts') as f:
            return any(line.split()[1] == self.m.mnt for line in f)

    def test_unmount_after_the_engine_exited_finishes_the_run(self):
        """The engine has exited by itself and the mount is gone by the
        time the daemon hears of either (it was stopped with SIGSTOP
        meanwhile, so nothing here may touch the mount): its work is kept and the task finished, not requeued
        and run again. Which of the two the daemon's threads take up first
        is theirs to decide; both orders must end the same."""
        go = os.path.join(self.tmp, 'go')
        runs = os.path.join(self.counts, 'runs')
        tid = self.m.submit('echo run >> %s; echo work > work.txt; '
                            'while [ ! -e %s ]; do sleep 0.05; done\n' % (runs, go))
        self.m.wait_state(tid, 'running')
        engine = self.m.pid_of(tid)
        daemon = self.m.proc.pid
        exit_file = os.path.join(self.m.repo, '.git', 'parallelai', 'results',
                                 '%d-1.exit' % tid)
        os.kill(daemon, signal.SIGSTOP)
        try:
            open(go, 'w').close()
            wait_for(lambda: not paitest.pid_alive(engine), 30, msg='the engine to exit')
            # its keeper wrote down how it ended
            wait_for(lambda: os.path.exists(exit_file), 30, msg='the exit file')
            umount = subprocess.Popen(['fusermount3', '-u', self.m.mnt],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # the kernel lets the mount go without asking the daemon (look
            # in /proc/mounts: a stat of the mount point would wait for it)
            wait_for(lambda: not self.in_proc_mounts(), 30, msg='the unmount')
        finally:
            os.kill(daemon, signal.SIGCONT)
        self.assertEqual(umount.wait(30), 0, umount.stderr.read())
        umount.stderr.close()
        self.assertEqual(self.m.proc.wait(30), 0, self.m.stderr_text())
        self.m.remount()
        self.assertDone(tid, 60)
        with open(runs) as f:
            self.assertEqual(f.read(), 'run\n', 'the engine ran again')
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:work.txt' % tid), 'work\n')
        self.assertFalse(self.m.events_of('requeued', tid))
        self.assertEqual(self.m.status(tid).get('attempts'), '1')

    def test_unmount_stops_engines(self):
        tid = self.m.submit('sleep 120\n')
        self.m.wait_state(tid, 'running')
        pid = self.m.pid_of(tid)
        self.m.unmount()
        wait_for(lambda: not paitest.pid_alive(pid), 30, msg='engine to stop after unmount')

    def test_unmount_with_queued_tasks_then_remount_runs_them(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        ids = [self.m.submit('echo later-%d\n' % i) for i in range(3)]
        self.m.unmount()
        self.m.remount()
        if self.m.kv('status').get('state') == 'paused':
            self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        for t in ids:
            self.assertDone(t, 60)


if __name__ == '__main__':
    paitest.main()
