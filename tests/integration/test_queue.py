#!/usr/bin/python3
"""The merge queue: finished tasks land on the base branch only when the
project's check (`make test` of a real repository) passes on exactly the
commit that lands; conflicting and failing candidates are rejected, the
rest land in order; failing batches are bisected; a flaky check is run
again; kill -9 in the middle loses nothing; a rejected task is handed back
with `fix`."""

import errno
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import paitest  # noqa: E402
from paitest import PaiTestCase, git, wait_for  # noqa: E402

# A project whose `make test` fails while any part says BROKEN.
PROJECT = {
    'Makefile': 'test:\n\tsh test.sh\n',
    'test.sh': ('if grep -l BROKEN parts/* 2>/dev/null; then\n'
                '  echo "FAIL: broken parts"; exit 2; fi\n'
                'echo "ok: $(ls parts | wc -l) parts"\n'),
    'parts/base': 'fine\n',
    'shared.txt': 'one\ntwo\nthree\n',
}


def good(k):
    return 'echo fine > parts/p%d\n' % k


def bad(k):
    return 'echo BROKEN > parts/p%d\n' % k


CONFLICTING = "sed -i 's/two/two by the task/' shared.txt\n"


class QueueTestCase(PaiTestCase):
    """A repository with tests, a check that counts its runs."""

    batch = 4
    retries = 0

    def prepare_repo(self, repo):
        for rel, text in PROJECT.items():
            os.makedirs(os.path.dirname(os.path.join(repo, rel)) or repo,
                        exist_ok=True)
            with open(os.path.join(repo, rel), 'w') as f:
                f.write(text)
        git(repo, 'add', '-A')
        git(repo, 'commit', '-q', '-m', 'a project with tests')
        # the check runs in the sandbox: its count is kept where it may
        # write (engine.sh.bindRw, the directory: the file comes later)
        counts = os.path.join(self.tmp, 'counts')
        os.makedirs(counts, exist_ok=True)
        self.runs = os.path.join(counts, 'check-runs')
        git(repo, 'config', 'engine.sh.bindRw', counts)
        # no check while the tasks run (it would gate each of them):
        # queue_check sets it and mounts again
        git(repo, 'config', 'parallelai.fixRounds', '0')
        git(repo, 'config', 'parallelai.queueBatch', str(self.batch))
        git(repo, 'config', 'parallelai.queueRetries', str(self.retries))
        git(repo, 'config', 'parallelai.killGrace', '200')

    def queue_check(self, cmd=None):
        """From here on the project has a check: the queue's."""
        git(self.m.repo, 'config', 'parallelai.check',
            cmd or 'echo run >> %s; make test' % self.runs)
        self.m.unmount()
        self.m.remount()

    def check_runs(self):
        try:
            with open(self.runs) as f:
                return len(f.read().splitlines())
        except FileNotFoundError:
            return 0

    def tip(self):
        return git(self.m.repo, 'rev-parse', 'main').strip()

    def submit_done(self, prompts):
        """Submit tasks that pass their own check (the check runs in each
        task's worktree too), wait until they are done."""
        ids = [self.m.submit(p) for p in prompts]
        for t in ids:
            self.m.wait_state(t, ('done', 'failed'), 90)
        return ids

    def queue_rows(self):
        return json.loads(self.m.read('queue.json'))['candidates']

    def wait_queue_idle(self, timeout=180):
        def idle():
            rows = self.queue_rows()
            return all(r['state'] not in ('waiting', 'checking', 'pending')
                       for r in rows) and rows
        return wait_for(idle, timeout, interval=0.2, msg='the queue to finish')

    def states(self, ids):
        return {t: self.m.state(t) for t in ids}

    def tree_passes(self, commit):
        """make test on the tree of commit, outside any checkout."""
        d = tempfile.mkdtemp(dir=self.tmp)
        arch = subprocess.run(['git', '-C', self.m.repo, 'archive', commit],
                              stdout=subprocess.PIPE, check=True).stdout
        subprocess.run(['tar', '-x', '-C', d], input=arch, check=True)
        return subprocess.run(['sh', 'test.sh'], cwd=d, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT).returncode == 0


class TestQueue(QueueTestCase):

    def test_eight_candidates_two_broken_one_conflicting(self):
        prompts = [good(1), good(2), bad(3), good(4), CONFLICTING,
                   bad(6), good(7), good(8)]
        ids = self.submit_done(prompts)
        self.assertEqual(set(self.states(ids).values()), {'done'})
        # the user moves on: a commit that conflicts with task 5, and
        # uncommitted work the queue must not touch
        path = os.path.join(self.m.repo, 'shared.txt')
        with open(path, 'w') as f:
            f.write('one\ntwo by the user\nthree\n')
        git(self.m.repo, 'commit', '-q', '-am', 'the user edits shared.txt')
        readme = os.path.join(self.m.repo, 'Makefile')
        with open(readme, 'a') as f:
            f.write('# a note the user has not committed\n')
        dirty = open(readme).read()
        start = self.tip()
        self.queue_check()
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        self.wait_queue_idle()
        st = self.states(ids)
        landed = [t for t in ids if st[t] == 'merged']
        self.assertEqual(landed, [ids[0], ids[1], ids[3], ids[6], ids[7]], st)
        for t in (ids[2], ids[5]):
            self.assertEqual(st[t], 'rejected')
            self.assertIn('check failed', self.m.status(t)['reason'])
            check = self.m.read('tasks/%d/check' % t)
            self.assertTrue(check.startswith('exit 2'), check)
            self.assertIn('FAIL: broken parts', check)
        self.assertEqual(st[ids[4]], 'rejected')
        self.assertIn('shared.txt', self.m.status(ids[4])['reason'])
        # each landing on main: a tree whose tests pass
        moves = git(self.m.repo, 'rev-list', '--first-parent',
                    '%s..main' % start).split()
        self.assertTrue(moves)
        for c in moves:
            self.assertTrue(self.tree_passes(c), c)
        self.assertTrue(self.tree_passes('main'))
        # every landed part is there, no broken one
        files = git(self.m.repo, 'ls-tree', '--name-only', 'main:parts').split()
        self.assertEqual(sorted(files), ['base', 'p1', 'p2', 'p4', 'p7', 'p8'])
        # the user's uncommitted work is as it was, the checkout follows
        self.assertEqual(open(readme).read(), dirty)
        self.assertTrue(os.path.exists(os.path.join(self.m.repo, 'parts/p8')))
        # in the order of the queue: batches, bisection, events
        landed_ev = [e['task'] for e in self.m.events_of('landed')]
        self.assertEqual(landed_ev, landed)
        self.assertEqual(sorted(e['task'] for e in self.m.events_of('rejected')),
                         sorted([ids[2], ids[4], ids[5]]))
        self.assertTrue(self.m.events_of('bisect'))
        self.assertEqual(len(self.m.events_of('queued_merge')), 8)
        # [1 2 3 4] F, [1 2] P, [3 4] F, [3] F, [4] P; [6 7 8] F, [6] F, [7 8] P
        self.assertEqual(self.check_runs(), 8)
        text = self.m.read('queue')
        for t in ids:
            self.assertRegex(text, r'(?m)^%d (landed|rejected)' % t)

    def test_queue_one_task_and_bad_commands(self):
        t = self.submit_done([good(1)])[0]
        self.queue_check()
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % t, 'queue\n'), 0)
        self.m.wait_state(t, 'merged', 90)
        self.assertIn('p1', git(self.m.repo, 'ls-tree', '--name-only', 'main:parts'))
        # again: it is merged, not done
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % t, 'queue\n'), errno.EBUSY)
        self.assertErrno(self.m.ctl('ctl', 'queue 999\n'), errno.ENOENT)
        self.assertErrno(self.m.ctl('ctl', 'queue\n'), errno.EINVAL)
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % t, 'fix\n'), errno.EBUSY)


class TestContained(QueueTestCase):
    """The queue's check runs the candidates' code: in an sh task's
    sandbox, with an sh engine's environment (no API key)."""

    autostart = False

    def test_the_queue_check_cannot_write_outside_nor_see_keys(self):
        env = dict(os.environ, ANTHROPIC_API_KEY='sk-ant-test-0123456789abcdef')
        self.m.start(env=env)
        t = self.submit_done([good(1)])[0]
        victim = os.path.join(self.m.repo, 'victim.txt')
        seen = os.path.join(os.path.dirname(self.runs), 'env.txt')
        git(self.m.repo, 'config', 'parallelai.check',
            'echo pwned > %s; env > %s; make test' % (victim, seen))
        self.m.unmount()
        self.m.start(env=env)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % t, 'queue\n'), 0)
        self.m.wait_state(t, 'merged', 90)
        self.assertFalse(os.path.exists(victim))
        with open(seen) as f:
            text = f.read()
        self.assertIn('PATH=', text)
        self.assertNotIn('ANTHROPIC_API_KEY', text)
        self.assertNotIn('0123456789abcdef', text)


class TestBisect(QueueTestCase):
    batch = 8

    def test_one_bad_among_eight_costs_at_most_seven_checks(self):
        prompts = [good(k) for k in range(1, 9)]
        prompts[5] = bad(6)
        ids = self.submit_done(prompts)
        self.queue_check()
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        self.wait_queue_idle()
        st = self.states(ids)
        self.assertEqual([t for t in ids if st[t] == 'rejected'], [ids[5]])
        self.assertEqual(len([t for t in ids if st[t] == 'merged']), 7)
        # 1 + 2 * ceil(log2 8)
        self.assertLessEqual(self.check_runs(), 7)
        self.assertGreaterEqual(self.check_runs(), 4)


class TestFlaky(QueueTestCase):
    retries = 1

    def test_a_check_that_fails_once_is_run_again(self):
        flag = os.path.join(os.path.dirname(self.runs), 'flaked')
        # fails the first time it runs, passes after
        t = self.submit_done([good(1)])[0]
        self.queue_check('echo run >> %s; if [ ! -e %s ]; then touch %s; '
                         'exit 1; fi; make test' % (self.runs, flag, flag))
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % t, 'queue\n'), 0)
        self.m.wait_state(t, 'merged', 90)
        self.assertEqual(self.check_runs(), 2)
        self.assertTrue(self.m.events_of('flaky'))


class TestCrash(QueueTestCase):

    def test_kill9_mid_check_resumes_on_remount(self):
        gate = os.path.join(self.tmp, 'gate')
        t = self.submit_done([good(1)])[0]
        # the check waits until the test lets it go
        self.queue_check('echo run >> %s; while [ ! -e %s ]; do sleep 0.1; '
                         'done; make test' % (self.runs, gate))
        before = self.tip()
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % t, 'queue\n'), 0)
        wait_for(lambda: self.check_runs() >= 1, 60, msg='the check to start')
        self.assertIn('checking', self.m.read('queue'))
        self.m.kill9()
        self.assertEqual(self.tip(), before)
        open(gate, 'w').close()
        self.m.remount()
        self.m.wait_state(t, 'merged', 90)
        self.assertNotEqual(self.tip(), before)
        self.assertTrue(self.tree_passes('main'))
        # the scratch worktree and its branch are gone
        branches = git(self.m.repo, 'branch', '--list', 'pai/merge-queue')
        self.assertEqual(branches.strip(), '')
        wts = git(self.m.repo, 'worktree', 'list', '--porcelain')
        self.assertNotIn('merge-queue', wts)


class TestRootWait(QueueTestCase):

    def test_root_wait_waits_for_the_merge_queue(self):
        gate = os.path.join(self.tmp, 'gate')
        t = self.submit_done([good(1)])[0]
        self.queue_check('echo run >> %s; while [ ! -e %s ]; do sleep 0.1; '
                         'done; make test' % (self.runs, gate))
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % t, 'queue\n'), 0)
        wait_for(lambda: self.check_runs() >= 1, 60, msg='the check to start')
        got = []
        reader = threading.Thread(target=lambda: got.append(self.m.read('wait')))
        reader.start()
        reader.join(1.0)
        # no task is queued or running, but the queue is checking
        self.assertTrue(reader.is_alive())
        self.assertEqual(got, [])
        open(gate, 'w').close()
        reader.join(90)
        self.assertFalse(reader.is_alive())
        self.assertIn('merged: 1', got[0])
        self.assertEqual(self.m.state(t), 'merged')


class TestFix(QueueTestCase):

    def test_rejected_task_handed_back_and_lands(self):
        # breaks the tests, unless its prompt says the queue rejected it
        prompt = ('if grep -q "^# parallelai: the merge queue" '
                  '"$PAI_PROMPT_FILE"; then\n'
                  '  echo fine > parts/p1\nelse\n  echo BROKEN > parts/p1\nfi\n')
        t = self.submit_done([prompt])[0]
        self.queue_check()
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % t, 'queue\n'), 0)
        self.m.wait_state(t, 'rejected', 90)
        before = set(self.m.task_ids())
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % t, 'fix\n'), 0)
        fix = (set(self.m.task_ids()) - before).pop()
        prompt2 = self.m.read('tasks/%d/prompt' % fix)
        self.assertIn('merge queue rejected', prompt2)
        self.assertIn('FAIL: broken parts', prompt2)
        self.m.wait_state(fix, 'merged', 120)
        self.assertEqual(git(self.m.repo, 'show', 'main:parts/p1'), 'fine\n')
        self.assertEqual(self.m.state(t), 'rejected')


class TestAutoFix(QueueTestCase):

    def test_rejected_task_is_handed_back_once_by_itself(self):
        # a task that conflicts with what the user commits meanwhile; its
        # fix (the same edit again, on top of its work) conflicts too,
        # and is not handed back again
        t = self.submit_done([CONFLICTING])[0]
        with open(os.path.join(self.m.repo, 'shared.txt'), 'w') as f:
            f.write('one\ntwo by the user\nthree\n')
        git(self.m.repo, 'commit', '-q', '-am', 'the user edits shared.txt')
        git(self.m.repo, 'config', 'parallelai.queueAutoFix', 'true')
        self.queue_check()
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % t, 'queue\n'), 0)
        self.m.wait_state(t, 'rejected', 90)
        self.assertIn('shared.txt', self.m.status(t)['reason'])
        fix = wait_for(lambda: [e['fix'] for e in self.m.events_of('fix', t)], 30,
                       msg='the fix task')[0]
        self.assertIn('merge queue rejected task %d' % t,
                      self.m.read('tasks/%d/prompt' % fix))
        self.m.wait_state(fix, 'rejected', 120)
        self.wait_queue_idle()
        self.assertEqual(len(self.m.events_of('fix')), 1)
        self.assertEqual(sorted(self.m.task_ids()), sorted([t, fix]))


class TestStall(QueueTestCase):

    def test_uncommitted_work_in_the_way_holds_the_queue(self):
        t = self.submit_done([good(1)])[0]
        self.queue_check()
        # the user has a file of their own where the task writes one
        mine = os.path.join(self.m.repo, 'parts', 'p1')
        with open(mine, 'w') as f:
            f.write('the user\'s own\n')
        before = self.tip()
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % t, 'queue\n'), 0)
        wait_for(lambda: self.m.events_of('queue_stalled'), 60, msg='the queue to stall')
        self.assertEqual(self.tip(), before)
        self.assertEqual(open(mine).read(), 'the user\'s own\n')
        self.assertEqual(self.m.state(t), 'done')
        self.assertRegex(self.m.read('queue'), r'(?m)^%d waiting' % t)
        # out of the way: the next command lands it
        os.unlink(mine)
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        self.m.wait_state(t, 'merged', 90)
        self.assertEqual(open(mine).read(), 'fine\n')

    def test_first_half_of_a_bisected_batch_stalled(self):
        """A failing batch is bisected; its first half passes but cannot
        land (the user's file is in the way): the second half waits
        again, none stays `checking`, and the next command finishes it."""
        ids = self.submit_done([good(1), good(2), bad(3), good(4)])
        self.queue_check()
        mine = os.path.join(self.m.repo, 'parts', 'p1')
        with open(mine, 'w') as f:
            f.write('the user\'s own\n')
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        wait_for(lambda: self.m.events_of('queue_stalled'), 60, msg='the queue to stall')
        wait_for(lambda: self.m.events_of('bisect'), 10, msg='a bisection')
        # the queue is idle, stalled: every row waits, none is checking
        wait_for(lambda: 'checking' not in self.m.read('queue'), 10,
                 msg='no row left checking')
        for t in ids:
            self.assertRegex(self.m.read('queue'), r'(?m)^%d waiting' % t)
        os.unlink(mine)
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        for t in (ids[0], ids[1], ids[3]):
            self.m.wait_state(t, 'merged', 90)
        self.m.wait_state(ids[2], 'rejected', 90)


if __name__ == '__main__':
    paitest.main()
