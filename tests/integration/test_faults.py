#!/usr/bin/python3
"""Fault injection: nothing is lost, nothing runs away.

kill -9 of the daemon at random moments of a 200-task run; a state
directory on a tiny tmpfs that fills up; an engine that double-forks a
daemonized grandchild; an engine that writes 1 GB of output; 50 readers
tail -f-ing the logs of 8 running tasks.  No assertion here is about
time: figures (how long `cat status` took) are printed, not asserted.
"""

import errno
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, pid_alive, run, wait_for  # noqa: E402


def environ_matches(prefix):
    """Processes with an environment entry that starts with prefix."""
    want = prefix.encode()
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open('/proc/%s/environ' % d, 'rb') as f:
                env = f.read()
        except OSError:
            continue
        if any(e.startswith(want) for e in env.split(b'\0')):
            if pid_alive(int(d)):
                out.append(int(d))
    return out


def parent_of(pid):
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[1])


def strays(prefix, daemon):
    """Processes carrying PAI_WORKTREE=<prefix>... that do not descend
    from the running daemon: what a dead daemon's engines left."""
    out = []
    for pid in environ_matches('PAI_WORKTREE=%s' % prefix):
        p, chain = pid, []
        try:
            while p > 1 and p != daemon:
                chain.append(p)
                p = parent_of(p)
        except OSError:
            continue   # gone meanwhile
        if p != daemon:
            out.append(pid)
    return out


def integrity(db):
    """PRAGMA integrity_check of a database, read-only (no checkpoint,
    no recovery written back: the daemon finds the files as it left them)."""
    con = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=30)
    try:
        return [r[0] for r in con.execute('PRAGMA integrity_check')]
    finally:
        con.close()


def store_rows(db):
    con = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=30)
    try:
        return con.execute('SELECT id, prompt, state, attempts FROM tasks ORDER BY id').fetchall()
    finally:
        con.close()


def session_of(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[3])   # state ppid pgrp session




def spec(**fields):
    return json.dumps(fields) + '\n'


# ---- kill -9 at random moments -----------------------------------------------

class TestKill9During200Tasks(PaiTestCase):
    """10 rounds of kill -9 and remount while 200 tasks are submitted and run."""

    workers = 4
    TASKS = 200
    ROUNDS = 10

    def prepare_repo(self, repo):
        # worktrees under the test's own directory: every engine carries
        # PAI_WORKTREE=<there>/..., which is how leftovers are found
        self.wt = os.path.join(self.tmp, 'wt')
        self.m.opts.append('worktrees=%s' % self.wt)
        # the runs' marker files are outside their worktrees: writable in
        # the sandbox
        git(repo, 'config', 'engine.sh.bindRw', os.path.join(self.tmp, 'marks'))

    def test_kill_9_at_random_moments_of_a_200_task_run(self):
        seed = int(os.environ.get('PAI_FAULT_SEED') or random.randrange(1 << 30))
        rng = random.Random(seed)
        print('\nseed %d (PAI_FAULT_SEED=%d gives the same kill moments)' % (seed, seed),
              file=sys.stderr)
        marks = os.path.join(self.tmp, 'marks')
        os.makedirs(marks)
        db = os.path.join(self.m.repo, '.git', 'parallelai', 'state.db')

        def prompt(i):
            # one marker file per task, outside the worktree: a line when
            # a run starts and one when it completes, each naming the run
            # by its PAI_RUN tag (DAEMONPID-N); a run killed with its
            # daemon writes no end
            # every 5th task also leaves a watcher behind that outlives
            # an engine killed with its daemon by 30 s, unless its keeper
            # or the next daemon ends it
            watcher = ('(while kill -0 $$ 2>/dev/null; do sleep 0.05; done; exec sleep 30) & '
                       if i % 5 == 0 else '')
            return (': sub-%d; echo start $PAI_RUN >> %s/$PAI_TASK_ID; %s'
                    'echo %d > out.txt; sleep 0.0%d; '
                    'echo end $PAI_RUN >> %s/$PAI_TASK_ID\n'
                    % (i, marks, watcher, i, 1 + i % 9, marks))

        lock = threading.Lock()
        acked, unacked = set(), {}   # submission numbers
        allowance = [0]
        stop = threading.Event()

        def submitter():
            i = 0
            while not stop.is_set() and len(acked) < self.TASKS:
                with lock:
                    room = len(acked) < allowance[0]
                if not room:
                    time.sleep(0.01)
                    continue
                err = self.m.try_new(prompt(i))
                with lock:
                    if err == 0:
                        acked.add(i)
                    else:
                        unacked[i] = errno.errorcode.get(err, str(err))
                if err:
                    time.sleep(0.02)
                i += 1

        th = threading.Thread(target=submitter, daemon=True)
        th.start()
        self.addCleanup(th.join, 10)
        self.addCleanup(stop.set)

        killed = set()
        integrity_after_kill = []
        for round_ in range(self.ROUNDS):
            with lock:
                allowance[0] = self.TASKS * (round_ + 1) // self.ROUNDS
            time.sleep(rng.uniform(0.05, 1.2))
            dead = self.m.proc.pid
            killed.add(dead)
            self.m.kill9()
            integrity_after_kill.append(integrity(db))
            self.m.remount()
            # the dead daemon's engines and whatever they started are
            # gone once the next daemon is up
            wait_for(lambda: not environ_matches('PAI_RUN=%d-' % dead), 20,
                     msg='engines of the killed daemon %d to be gone' % dead)
            wait_for(lambda: not strays(self.wt + '/', self.m.proc.pid), 20,
                     msg='what the killed daemon %d left running to be gone: %s'
                     % (dead, strays(self.wt + '/', self.m.proc.pid)))
        with lock:
            allowance[0] = self.TASKS + len(unacked) + 1000
        wait_for(lambda: len(acked) >= self.TASKS, 60, msg='200 acknowledged tasks')
        stop.set()
        th.join(30)
        self.assertFalse(th.is_alive())

        for r in integrity_after_kill:
            self.assertEqual(r, ['ok'])

        # every acknowledged task exists once; nothing else but what an
        # interrupted close() may have left
        ids = self.m.task_ids()
        sub_of = {}
        for t in ids:
            p = self.m.read('tasks/%d/prompt' % t)
            sub = int(p.split()[1].split('-')[1].rstrip(';'))
            self.assertNotIn(sub, sub_of.values(), 'submission %d made two tasks' % sub)
            sub_of[t] = sub
        subs = set(sub_of.values())
        self.assertTrue(acked <= subs, 'acknowledged but missing: %s' % sorted(acked - subs))
        self.assertTrue(subs <= acked | set(unacked), sorted(subs - acked - set(unacked)))

        for t in ids:
            self.assertDone(t, 120)

        # the store says the same, each task once, each done
        rows = store_rows(db)
        self.assertEqual([r[0] for r in rows], ids)
        self.assertEqual({r[2] for r in rows}, {'done'})

        events = self.m.events()
        finished, requeued = {}, {}
        for e in events:
            if e.get('event') == 'finished':
                finished.setdefault(e['task'], []).append(e)
            elif e.get('event') == 'requeued':
                requeued.setdefault(e['task'], []).append(e)

        for t in ids:
            # recorded finished at most once, and then done
            fin = finished.get(t, [])
            self.assertLessEqual(len(fin), 1, 'task %d finished twice: %s' % (t, fin))
            for e in fin:
                self.assertEqual(e.get('state'), 'done', e)
            with open(os.path.join(marks, str(t))) as f:
                lines = [ln.split() for ln in f.read().splitlines()]
            runs = []         # tags in start order
            ended = set()
            for words in lines:
                self.assertEqual(len(words), 2, 'task %d: %s' % (t, lines))
                kind, tag = words
                if kind == 'start':
                    self.assertNotIn(tag, runs, 'task %d: run %s started twice' % (t, tag))
                    runs.append(tag)
                else:
                    self.assertEqual(kind, 'end')
                    self.assertIn(tag, runs, 'task %d: end of a run never started' % t)
                    self.assertNotIn(tag, ended, 'task %d: run %s ended twice' % (t, tag))
                    ended.add(tag)
            self.assertTrue(runs, 'task %d is done but never ran' % t)
            # one daemon runs a task once: a second run only after a kill
            daemons = [tag.split('-')[0] for tag in runs]
            self.assertEqual(len(daemons), len(set(daemons)),
                             'task %d ran twice under one daemon: %s' % (t, runs))
            for tag in runs[:-1]:
                self.assertIn(int(tag.split('-')[0]), killed,
                              'task %d ran again after run %s of a daemon never killed' % (t, tag))
            # the run the store recorded as done is the last one, and it completed
            self.assertIn(runs[-1], ended, 'task %d: its last run %s did not complete' % (t, runs[-1]))
            # none ran twice to completion: an engine that ended by
            # itself, before its daemon died or while its keeper lingered
            # after, had its run finished by the next daemon
            earlier = [tag for tag in runs[:-1] if tag in ended]
            self.assertEqual(earlier, [], 'task %d: run %s completed, then %s ran again'
                             % (t, earlier, runs[-1]))
            self.assertGreaterEqual(len(requeued.get(t, [])), len(runs) - 1,
                                    'task %d ran %d times, requeued %d times'
                                    % (t, len(runs), len(requeued.get(t, []))))
            self.assertGreaterEqual(int(self.m.status(t)['attempts']), len(runs))

        print('acknowledged %d, close() failed %d (%s), tasks %d, requeued %d, '
              'finished after a restart %d'
              % (len(acked), len(unacked), sorted(set(unacked.values())), len(ids),
                 sum(len(v) for v in requeued.values()),
                 len([e for e in events if e.get('event') == 'recovered'])),
              file=sys.stderr)

        self.m.unmount()
        self.assertEqual(integrity(db), ['ok'])
        self.assertEqual(environ_matches('PAI_WORKTREE=%s/' % self.wt), [])
        self.assertEqual(paitest.pids_under(self.wt), [])


# ---- a full state directory ------------------------------------------------------

class TestStateDiskFull(PaiTestCase):
    """The state directory (state.db, logs, events) on a 1 MiB tmpfs;
    worktrees elsewhere."""

    autostart = False

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest('mounting a tmpfs needs root')
        self.state = os.path.join(self.tmp, 'state')
        os.makedirs(self.state)
        r = run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', self.state])
        if r.returncode != 0:
            self.skipTest('cannot mount a tmpfs: %s' % r.stderr.strip())
        # runs after finish_mount (cleanups are last-in first-out)
        self.addCleanup(run, ['umount', '-l', self.state])
        self.db = os.path.join(self.state, 'state.db')
        self.fillers = []
        self.m.opts += ['state=%s' % self.state, 'worktrees=%s' % os.path.join(self.tmp, 'wt')]
        # where runs count themselves, outside their worktrees: writable
        # in the sandbox
        self.counts = os.path.join(self.tmp, 'counts')
        os.makedirs(self.counts)
        git(self.m.repo, 'config', 'engine.sh.bindRw', self.counts)
        self.m.start()

    def fill(self):
        """Write zeros into the state directory until it is full."""
        for size in (65536, 512):
            path = os.path.join(self.state, 'filler-%d' % size)
            self.fillers.append(path)
            with open(path, 'wb', buffering=0) as f:
                try:
                    for _ in range(100000):
                        f.write(b'\0' * size)
                except OSError as e:
                    self.assertEqual(e.errno, errno.ENOSPC)

    def free(self):
        for path in self.fillers:
            os.unlink(path)
        self.fillers = []

    def refuse_until_enospc(self):
        """Submit until close() fails: a page of WAL left over may take a
        task or two, but a full disk refuses within a bounded number.
        Returns the ids made meanwhile."""
        before = self.m.task_ids()
        errs = []
        for i in range(200):
            e = self.m.try_new('echo while-full-%d %s\n' % (i, 'y' * 4000))
            errs.append(e)
            if e:
                break
        self.assertErrno(errs[-1], errno.ENOSPC)
        print('\ntasks accepted on the full disk before ENOSPC: %d' % errs.count(0),
              file=sys.stderr)
        # nothing half-made: only what close() acknowledged is there
        made = sorted(set(self.m.task_ids()) - set(before))
        self.assertEqual(len(made), errs.count(0))
        return made

    def test_full_state_disk_refuses_new_tasks_with_enospc_then_recovers(self):
        first = self.m.submit('echo before-full > before.txt\n')
        self.assertDone(first)
        self.fill()
        made = self.refuse_until_enospc()
        n = len(self.m.task_ids())
        self.assertErrno(self.m.try_new('echo still-full\n'), errno.ENOSPC)
        self.assertEqual(len(self.m.task_ids()), n)
        # the mount stays up and answers, the daemon says why
        self.assertIsNone(self.m.proc.poll())
        self.assertTrue(os.path.ismount(self.m.mnt))
        self.assertIn('tasks', self.m.read('status'))
        self.assertEqual(self.m.state(first), 'done')

        self.free()
        # the reason is in events (where it fitted) or in the daemon's log
        reasons = [e.get('reason', '') for e in self.refused_events()]
        print('refused: %s; daemon stderr: %r' % (reasons, self.m.stderr_text()[-500:]),
              file=sys.stderr)
        self.assertTrue(any('No space left on device' in r for r in reasons)
                        or 'No space left on device' in self.m.stderr_text(),
                        'ENOSPC said nowhere: refused %s; stderr %r' % (reasons, self.m.stderr_text()))
        after = self.m.submit('echo after-full > after.txt\n')
        self.assertDone(after)
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:after.txt' % after), 'after-full\n')
        for t in made:
            self.assertIn(self.m.wait_final(t, 60), paitest.STATES_FINAL)
        self.assertEqual(integrity(self.db), ['ok'])
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:before.txt' % first), 'before-full\n')
        self.m.unmount()
        self.assertEqual(integrity(self.db), ['ok'])
        self.m.remount()
        self.assertEqual(self.m.state(first), 'done')
        self.assertEqual(self.m.state(after), 'done')
        self.assertEqual(self.m.read('tasks/%d/prompt' % after), 'echo after-full > after.txt\n')

    def test_run_that_ends_on_a_full_state_disk_reaches_a_final_state(self):
        go = os.path.join(self.tmp, 'go')
        running = self.m.submit('while [ ! -e %s ]; do sleep 0.05; done; '
                                'echo out-while-full; echo x > x.txt\n' % go)
        self.m.wait_state(running, 'running')
        # its pid is recorded once the engine started: before the disk
        # fills, or it could not be written
        engine = self.m.pid_of(running)
        self.fill()
        self.refuse_until_enospc()
        # the engine ends while nothing can be written to the state
        open(go, 'w').close()
        wait_for(lambda: not pid_alive(engine), 30, msg='the engine to end')
        self.assertIsNone(self.m.proc.poll())
        # once there is room again its end is recorded as it was: it
        # exited 0, so done, its work committed on its branch (what it
        # printed had no room in the log)
        self.free()
        state = self.m.wait_final(running, 60)
        self.assertEqual(state, 'done', self.m.read('tasks/%d/status' % running))
        self.assertEqual(self.m.status(running).get('exit'), '0')
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:x.txt' % running), 'x\n')
        self.assertEqual(integrity(self.db), ['ok'])
        # and it is not run again by the next mount
        self.m.unmount()
        self.m.remount()
        self.assertEqual(self.m.state(running), state)
        self.assertEqual(self.m.status(running).get('attempts'), '1')

    def runs_whose_ends_cannot_be_recorded(self, n, **fields):
        """n runs that end while the state disk is full, so that the
        daemon cannot record their ends.  Each counts its runs in a file
        of its own outside the state directory.  Returns [(id, count)]."""
        go = os.path.join(self.tmp, 'go')
        runs = []
        for i in range(n):
            count = os.path.join(self.counts, 'runs-%d' % i)
            tid = self.m.submit(spec(
                engine='sh', prompt='while [ ! -e %s ]; do sleep 0.05; done; '
                'echo ran >> %s; echo %d > x.txt\n' % (go, count, i), **fields))
            runs.append((tid, count))
        engines = []
        for tid, _ in runs:
            self.m.wait_state(tid, 'running')
            engines.append(self.m.pid_of(tid))
        self.fill()
        self.refuse_until_enospc()
        open(go, 'w').close()
        wait_for(lambda: not any(pid_alive(e) for e in engines), 30,
                 msg='the engines to end')
        wait_for(lambda: all('task %d: cannot record its end' % tid
                             in self.m.stderr_text() for tid, _ in runs), 30,
                 msg='the daemon to say it cannot record the ends')
        return runs

    def test_runs_that_ended_on_a_full_disk_are_not_run_again_after_kill_9(self):
        """The run-once promise on a full disk: the keeper kept each exit
        status (in the exit file made when the run started), so the next
        daemon finishes the runs instead of running them again."""
        runs = self.runs_whose_ends_cannot_be_recorded(2)
        self.m.kill9()
        self.free()
        self.m.remount()
        for i, (tid, count) in enumerate(runs):
            self.assertEqual(self.m.wait_final(tid, 60), 'done')
            self.assertEqual(self.m.status(tid).get('attempts'), '1')
            with open(count) as f:
                self.assertEqual(f.read(), 'ran\n', 'task %d ran again' % tid)
            self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:x.txt' % tid), '%d\n' % i)
            self.assertTrue(self.m.events_of('recovered', tid))
        self.assertEqual(integrity(self.db), ['ok'])

    def test_a_run_whose_exit_status_was_lost_fails_and_is_not_run_again(self):
        """A keeper that could not write the status down empties the exit
        file (done here by hand): the next daemon cannot know how the
        engine ended, so the task fails with that reason, its work
        committed, and runs no second time, retries or not."""
        [(tid, count)] = self.runs_whose_ends_cannot_be_recorded(1, retries=2)
        self.m.kill9()
        self.free()
        exit_file = os.path.join(self.state, 'results', '%d-1.exit' % tid)
        self.assertTrue(os.path.exists(exit_file))
        os.truncate(exit_file, 0)
        self.m.remount()
        self.assertEqual(self.m.wait_final(tid, 60), 'failed')
        st = self.m.status(tid)
        self.assertEqual(st.get('reason'), 'the engine ended by itself but its'
                         ' exit status could not be kept; not run again')
        self.assertEqual(st.get('attempts'), '1')
        with open(count) as f:
            self.assertEqual(f.read(), 'ran\n')
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:x.txt' % tid), '0\n')
        self.assertFalse(os.path.exists(exit_file))

    def test_cancel_of_a_run_whose_end_cannot_be_recorded_says_why(self):
        """Its engine has ended: cancel cannot do what it says, and it
        says so rather than answer 0; the run ends done once there is
        room."""
        [(tid, count)] = self.runs_whose_ends_cannot_be_recorded(1)
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), errno.ENOSPC)
        self.assertErrno(self.m.ctl('ctl', 'cancel %d\n' % tid), errno.ENOSPC)
        self.assertIn("cannot cancel task %d: its engine has ended and its end"
                      " cannot be recorded: No space left on device" % tid,
                      self.m.stderr_text())
        self.free()
        self.assertEqual(self.m.wait_final(tid, 60), 'done')
        self.assertFalse(self.m.events_of('cancelled', tid))

    def test_fan_out_that_fails_in_its_transaction_makes_no_task(self):
        # 200 files: a fan-out of 200 tasks with long prompts, more than
        # the room left, so its commit fails part way through
        os.makedirs(os.path.join(self.m.repo, 'many'))
        for i in range(200):
            with open(os.path.join(self.m.repo, 'many', 'f%03d.txt' % i), 'w') as f:
                f.write('%d\n' % i)
        git(self.m.repo, 'add', 'many')
        git(self.m.repo, 'commit', '-q', '-m', 'many files')
        spec = json.dumps({'each': 'many/*.txt', 'prompt': 'wc -c {file} # ' + 'z' * 500,
                           'then': {'prompt': 'echo all of them'}})
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        first = self.m.submit('true\n')
        self.fill()
        # a little room: single small writes go on, the fan-out does not fit
        os.unlink(self.fillers.pop())
        before = self.m.task_ids()
        self.assertErrno(self.m.try_new(spec), errno.ENOSPC)
        self.assertEqual(self.m.task_ids(), before)
        self.assertEqual(self.m.kv('status').get('tasks'), str(len(before)))
        self.free()
        self.assertEqual(integrity(self.db), ['ok'])
        # the same fan-out, with room: all 201 tasks, ids in a row
        self.assertEqual(self.m.try_new(spec), 0)
        made = sorted(set(self.m.task_ids()) - set(before))
        self.assertEqual(len(made), 201)
        self.assertEqual(made, list(range(made[0], made[0] + 201)))
        self.assertEqual(made[0], first + 1)
        self.assertEqual(integrity(self.db), ['ok'])


# ---- a double-forked daemonized grandchild ------------------------------------------



class TestDaemonizedGrandchild(PaiTestCase):

    def prepare_repo(self, repo):
        git(repo, 'config', 'parallelai.killGrace', '200')
        # These follow the grandchild by the pid it writes into the test's
        # directory: a sandbox's PID namespace and read-only file system
        # hide both. test_sandbox ends sandboxed runs the same ways.
        git(repo, 'config', 'parallelai.sandbox', 'none')

    def escape(self, name, then):
        """A prompt whose grandchild leaves the process group and the
        session (setsid in a backgrounded subshell: the double fork of a
        daemon), writes its pid, and sleeps; then the engine runs then."""
        self.pidfile = os.path.join(self.tmp, name + '.pid')
        return ("(setsid sh -c 'echo $$ > %s.tmp; mv %s.tmp %s; exec sleep 300' &); %s\n"
                % (self.pidfile, self.pidfile, self.pidfile, then))

    def grandchild(self, tid):
        def written():
            with open(self.pidfile) as f:
                return f.read().strip()
        pid = int(wait_for(written, 30, msg='the grandchild to write its pid'))
        # it is outside the test's directory: never leave it behind
        self.addCleanup(paitest.kill_pids, [pid])
        engine = self.m.pid_of(tid)
        # it really escaped: another session than the engine's
        self.assertNotEqual(session_of(pid), session_of(engine))
        return pid

    def assertGone(self, pid, what):
        wait_for(lambda: not pid_alive(pid), 20, msg='daemonized grandchild %d to end on %s' % (pid, what))

    def test_every_engine_carries_its_run_tag(self):
        tid = self.m.submit('env; sh -c env\n')
        self.assertDone(tid)
        tags = re.findall(r'^PAI_RUN=(.*)$', self.m.read('tasks/%d/log' % tid), re.M)
        self.assertEqual(len(tags), 2, 'PAI_RUN in the engine and its child: %s' % tags)
        self.assertEqual(tags[0], tags[1])
        self.assertRegex(tags[0], r'^%d-\d+$' % self.m.proc.pid)

    def test_cancel_ends_a_daemonized_grandchild(self):
        tid = self.m.submit(self.escape('cancel', 'sleep 300'))
        self.m.wait_state(tid, 'running')
        pid = self.grandchild(tid)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')
        self.assertGone(pid, 'cancel')

    def test_timeout_ends_a_daemonized_grandchild(self):
        gate = os.path.join(self.tmp, 'never')
        tid = self.m.submit(spec(prompt=self.escape('timeout', 'sleep 300'), timeout=2))
        self.m.wait_state(tid, 'running')
        pid = self.grandchild(tid)
        self.assertFalse(os.path.exists(gate))
        self.assertEqual(self.m.wait_final(tid, 30), 'failed')
        self.assertEqual(self.m.status(tid).get('reason'), 'timeout: killed after 2 s')
        self.assertGone(pid, 'timeout')

    def test_end_of_the_run_ends_a_daemonized_grandchild(self):
        go = os.path.join(self.tmp, 'go')
        tid = self.m.submit(self.escape('end', 'while [ ! -e %s ]; do sleep 0.05; done; echo ok' % go))
        self.m.wait_state(tid, 'running')
        pid = self.grandchild(tid)
        open(go, 'w').close()
        self.assertDone(tid)
        self.assertGone(pid, 'the end of the run')

    def test_python_double_fork_is_ended_with_the_run(self):
        pidfile = os.path.join(self.tmp, 'py.pid')
        script = ('import os, time\n'
                  'if os.fork() == 0:\n'
                  '    os.setsid()\n'
                  '    if os.fork() == 0:\n'
                  '        fd = os.open("/dev/null", os.O_RDWR)\n'
                  '        for i in (0, 1, 2): os.dup2(fd, i)\n'
                  '        open("%s.tmp", "w").write(str(os.getpid()))\n'
                  '        os.rename("%s.tmp", "%s")\n'
                  '        time.sleep(300)\n'
                  '    os._exit(0)\n'
                  'os.wait()\n' % (pidfile, pidfile, pidfile))
        with open(os.path.join(self.tmp, 'daemonize.py'), 'w') as f:
            f.write(script)
        tid = self.m.submit('python3 %s; while [ ! -e %s ]; do sleep 0.05; done; echo spawned\n'
                            % (os.path.join(self.tmp, 'daemonize.py'), pidfile))
        self.assertDone(tid)
        with open(pidfile) as f:
            pid = int(f.read())
        self.addCleanup(paitest.kill_pids, [pid])
        self.assertGone(pid, 'the end of the run')


# ---- 1 GB of output --------------------------------------------------------------

CAP = 10 << 20
NOTE = 'parallelai: log cap reached; the rest of the output is dropped'


class TestHugeOutput(PaiTestCase):

    def prepare_repo(self, repo):
        git(repo, 'config', 'parallelai.logMax', str(CAP))

    def test_1_gb_of_output_is_capped_with_a_note_and_the_mount_answers(self):
        tid = self.m.submit("head -c 1G /dev/zero | tr '\\0' x; echo; echo tail-of-output\n")
        self.m.wait_state(tid, ('running',) + paitest.STATES_FINAL)
        times = []
        for _ in range(10000):
            if self.m.state(tid) != 'running':
                break
            t0 = time.monotonic()
            r = run(['cat', self.m.path('status')], timeout=60)
            times.append(time.monotonic() - t0)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('workers', r.stdout)
            time.sleep(0.1)
        self.assertDone(tid, 300)
        if times:
            print('\n`cat status` while 1 GB was written: %d reads, median %.3f s, max %.3f s'
                  % (len(times), statistics.median(times), max(times)), file=sys.stderr)
        log = self.m.read_bytes('tasks/%d/log' % tid)
        self.assertEqual(os.stat(self.m.path('tasks/%d/log' % tid)).st_size, len(log))
        self.assertEqual(log[:CAP], b'x' * CAP)
        self.assertEqual(log.count(NOTE.encode()), 1)
        rest = log[CAP:].decode()
        self.assertEqual(rest.strip(), NOTE, 'the log after the cap: %r' % rest[:500])
        self.assertNotIn('tail-of-output', rest)


class TestNoLogCap(PaiTestCase):

    def prepare_repo(self, repo):
        git(repo, 'config', 'parallelai.logMax', '0')

    def test_log_max_0_keeps_all_the_output(self):
        # 0 is no cap at all, not a cap of 0 bytes
        tid = self.m.submit("head -c 3M /dev/zero | tr '\\0' y; echo; echo tail-of-output\n")
        self.assertDone(tid, 120)
        log = self.m.read_bytes('tasks/%d/log' % tid)
        self.assertEqual(log, b'y' * (3 << 20) + b'\ntail-of-output\n')
        self.assertNotIn(NOTE.encode(), log)


class TestDroppedOutputStalls(PaiTestCase):

    def prepare_repo(self, repo):
        git(repo, 'config', 'parallelai.logMax', '4096')
        git(repo, 'config', 'parallelai.killGrace', '200')

    def test_output_past_the_cap_does_not_keep_a_task_from_stalling(self):
        # past the cap at once, then a line every 0.1 s for a minute: all
        # of it dropped, so for stall the log is silent
        tid = self.m.submit(json.dumps({
            'prompt': "head -c 8192 /dev/zero | tr '\\0' z; "
                      'for i in $(seq 600); do echo still-talking-$i; sleep 0.1; done',
            'stall': 2}))
        self.assertEqual(self.m.wait_final(tid, 60), 'failed')
        self.assertEqual(self.m.status(tid).get('reason'), 'stalled: no output for 2 s')
        log = self.m.read_bytes('tasks/%d/log' % tid)
        self.assertEqual(log[:4096], b'z' * 4096)
        self.assertIn(NOTE.encode(), log)
        self.assertNotIn(b'still-talking', log)


# ---- 50 readers ----------------------------------------------------------------

class TestManyTailReaders(PaiTestCase):

    workers = 8
    LINES = 20

    def test_50_tail_f_readers_miss_and_repeat_nothing(self):
        go = os.path.join(self.tmp, 'go')
        prompt = ('while [ ! -e %s ]; do sleep 0.05; done; '
                  'for i in $(seq 1 %d); do echo "task $PAI_TASK_ID line $i"; sleep 0.05; done\n'
                  % (go, self.LINES))
        ids = [self.m.submit(prompt) for _ in range(8)]
        for t in ids:
            self.m.wait_state(t, 'running')
        worker = {t: wait_for(lambda t=t: self.m.worker_of(t), 20, msg='worker of %d' % t)
                  for t in ids}
        self.assertEqual(sorted(worker.values()), list(range(1, 9)))
        task_on = {k: t for t, k in worker.items()}

        readers = []
        for i in range(50):
            if i % 2 == 0:
                t = ids[(i // 2) % 8]
                rel = 'tasks/%d/log' % t
            else:
                k = (i // 2) % 8 + 1
                t = task_on[k]
                rel = 'workers/%d/log' % k
            p = subprocess.Popen(['tail', '-n', '+1', '-f', self.m.path(rel)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            rd = {'rel': rel, 'task': t, 'proc': p, 'lines': [], 'stamps': []}

            def collect(rd=rd):
                for line in rd['proc'].stdout:
                    rd['lines'].append(line.decode('utf-8', 'replace'))
                    rd['stamps'].append(time.monotonic())
            rd['thread'] = threading.Thread(target=collect, daemon=True)
            rd['thread'].start()
            readers.append(rd)

        def stop_readers():
            for rd in readers:
                if rd['proc'].poll() is None:
                    rd['proc'].kill()
                rd['proc'].wait(10)
                rd['thread'].join(10)
                if not rd['proc'].stderr.closed:
                    rd['err'] = rd['proc'].stderr.read().decode('utf-8', 'replace')
                rd['proc'].stdout.close()
                rd['proc'].stderr.close()
        self.addCleanup(stop_readers)

        open(go, 'w').close()
        for t in ids:
            self.assertDone(t)
        ended = time.monotonic()
        final = {t: self.m.read('tasks/%d/log' % t).splitlines(True) for t in ids}
        for t in ids:
            self.assertEqual(final[t], ['task %d line %d\n' % (t, i) for i in range(1, self.LINES + 1)])

        # a worker's log is its task's after a header line naming it
        for rd in readers:
            rd['want'] = final[rd['task']]
            if rd['rel'].startswith('workers/'):
                first = self.m.read('tasks/%d/prompt' % rd['task']).split('\n', 1)[0][:72]
                rd['want'] = ['--- task %d: %s ---\n' % (rd['task'], first)] + rd['want']

        def caught_up():
            return all(len(rd['lines']) >= len(rd['want']) for rd in readers)
        late = [rd['rel'] for rd in readers if len(rd['lines']) < len(rd['want'])]
        wait_for(caught_up, 30, interval=0.1,
                 msg='every reader to have every line (behind: %s)' % late)
        lag = max(max(rd['stamps']) - ended for rd in readers)
        time.sleep(1.5)   # a tail polls about once a second: room to repeat a line
        stop_readers()
        for rd in readers:
            self.assertEqual(rd['lines'], rd['want'],
                             '%s read differs; tail said: %s' % (rd['rel'], rd.get('err')))
        print('\n50 readers: the last line reached the slowest reader %.2f s after the last task ended'
              % lag, file=sys.stderr)


if __name__ == '__main__':
    paitest.main()
