#!/usr/bin/python3
"""Paths a task owns: tasks whose paths may overlap never run at once
(parallelai.pathLocks), the later waits queued with waiting_for in its
status; disjoint ones run side by side; strict mode; fan-out ownership."""

import errno
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, wait_for  # noqa: E402


class MarksCase(PaiTestCase):
    """sh engines leave markers in a directory bound writable into the
    sandbox: run.N while task N runs, seen.N (what else ran when N
    started), and they wait for go.N before they end when told to."""

    workers = 4
    config = ()

    def prepare_repo(self, repo):
        self.marks = os.path.join(self.tmp, 'marks')
        os.makedirs(self.marks)
        git(repo, 'config', 'engine.sh.bindRw', self.marks)
        # they write out.NAME beside their paths: kept (TestOutside*)
        git(repo, 'config', 'parallelai.outsidePaths', 'keep')
        for k, v in self.config:
            git(repo, 'config', k, v)

    def task(self, name, paths=None, hold=False, **extra):
        """A task that marks its run; with hold, it waits for go.NAME."""
        m = self.marks
        prompt = ('ls %s | grep "^run\\." > %s/seen.%s; touch %s/run.%s; ' % (m, m, name, m, name))
        if hold:
            prompt += 'while [ ! -e %s/go.%s ]; do sleep 0.05; done; ' % (m, name)
        else:
            prompt += 'sleep 0.5; '
        prompt += 'rm %s/run.%s; echo %s > out.%s\n' % (m, name, name, name)
        spec = dict(prompt=prompt, **extra)
        if paths is not None:
            spec['paths'] = paths
        return self.m.submit(json.dumps(spec))

    def go(self, name):
        open(os.path.join(self.marks, 'go.' + name), 'w').close()

    def running(self, name):
        return os.path.exists(os.path.join(self.marks, 'run.' + name))

    def seen(self, name):
        with open(os.path.join(self.marks, 'seen.' + name)) as f:
            return f.read().split()


class TestPathLocks(MarksCase):

    def test_overlapping_wait_disjoint_runs_beside(self):
        a = self.task('a', ['src/**'], hold=True)
        wait_for(lambda: self.running('a'), 30, msg='task a to run')
        b = self.task('b', ['src/ui/*.c'])
        c = self.task('c', ['docs'], hold=True)
        # c owns other paths: it runs beside a
        wait_for(lambda: self.running('c'), 30, msg='task c to run beside a')
        # b waits for a, queued, and says why
        wait_for(lambda: self.m.status(b).get('waiting_for'), 30,
                 msg='task b to wait for paths')
        self.assertEqual(self.m.state(b), 'queued')
        self.assertEqual(self.m.status(b).get('waiting_for'),
                         'paths held by task %d' % a)
        self.assertEqual(self.m.status(b).get('paths'), 'src/ui/*.c')
        tj = json.loads(self.m.read('tasks/%d/task.json' % b))
        self.assertEqual(tj.get('paths'), ['src/ui/*.c'])
        self.assertEqual(tj.get('waiting_for'), 'paths held by task %d' % a)
        self.assertFalse(self.running('b'))
        self.go('a')
        self.assertDone(a)
        self.assertDone(b)
        self.assertNotIn('run.a', self.seen('b'))
        self.assertNotIn('waiting_for', self.m.status(b))
        self.go('c')
        self.assertDone(c)
        self.assertEqual(self.seen('c'), ['run.a'])
        # the one that waited started after the holder ended
        ja = json.loads(self.m.read('tasks/%d/task.json' % a))
        jb = json.loads(self.m.read('tasks/%d/task.json' % b))
        self.assertGreaterEqual(jb['started'], ja['finished'])

    def test_globs_that_match_files_are_judged_by_them(self):
        # src/h* and src/*.txt may overlap in words (src/h.txt), but in
        # the base commit one matches src/hello.c, the other src/old.txt
        a = self.task('a', ['src/h*'], hold=True)
        wait_for(lambda: self.running('a'), 30, msg='task a to run')
        b = self.task('b', ['src/*.txt'], hold=True)
        wait_for(lambda: self.running('b'), 30, msg='task b to run beside a')
        c = self.task('c', ['src/*.c'])
        wait_for(lambda: self.m.status(c).get('waiting_for'), 30,
                 msg='task c to wait for paths')
        self.assertEqual(self.m.status(c)['waiting_for'], 'paths held by task %d' % a)
        # a's locks are src/hello.c: src/h*.md (no file) runs beside
        d = self.task('d', ['src/h*.md'])
        self.assertDone(d)
        # a "**" is a territory, kept whole: src/new/x waits for it
        e = self.task('e', ['src/**'])
        wait_for(lambda: self.m.status(e).get('waiting_for'), 30,
                 msg='task e to wait for paths')
        self.go('a')
        self.go('b')
        for t in (a, b, c, e):
            self.assertDone(t)

    def test_three_overlapping_one_after_another(self):
        ids = [self.task(n, ['src/hello.c', 'src/x%s.c' % n]) for n in 'pqr']
        d = self.task('d', ['notes.txt'])
        for t in ids + [d]:
            self.assertDone(t)
        for n in 'pqr':
            self.assertEqual([s for s in self.seen(n) if s != 'run.d'], [], n)

    def test_cycle_of_overlaps_does_not_deadlock(self):
        # 1 and 2 share b, 2 and 3 share c, 3 and 1 share a
        ids = [self.task('x', ['a', 'b']), self.task('y', ['b', 'c']),
               self.task('z', ['c', 'a'])]
        for t in ids:
            self.assertDone(t)
        for n in 'xyz':
            self.assertEqual(self.seen(n), [], n)

    def test_tasks_without_paths_lock_nothing(self):
        a = self.task('a', ['src/**'], hold=True)
        wait_for(lambda: self.running('a'), 30, msg='task a to run')
        n = self.task('n', None)
        self.assertDone(n)
        self.assertEqual(self.seen('n'), ['run.a'])
        self.go('a')
        self.assertDone(a)

    def test_bad_paths_refused(self):
        self.assertRefused(json.dumps({'prompt': 'true', 'paths': 'src'}), "'paths' must be")
        self.assertRefused(json.dumps({'prompt': 'true', 'paths': []}), "'paths' must be")
        self.assertRefused(json.dumps({'prompt': 'true', 'paths': ['a//b']}),
                           "in 'paths', 'a//b' has an empty segment")

    def test_fanout_task_owns_its_file(self):
        # two fan-outs over the same files: task for src/hello.c of the
        # second waits for the first's; different files run beside
        a = self.task('a', None, hold=True, each='src/hello.c')
        wait_for(lambda: self.running('a'), 30, msg='fan-out task to run')
        self.assertEqual(self.m.status(a).get('paths'), 'src/hello.c')
        b = self.task('b', None, each='src/hello.c')
        c = self.task('c', None, each='src/old.txt')
        self.assertDone(c)
        wait_for(lambda: self.m.status(b).get('waiting_for'), 30,
                 msg='task b to wait for paths')
        self.assertEqual(self.m.status(b)['waiting_for'], 'paths held by task %d' % a)
        self.go('a')
        self.assertDone(a)
        self.assertDone(b)

    def test_fanout_paths_with_file(self):
        t = self.task('f', ['{file}', 'tests/{file}'], each='src/hello.c')
        self.assertDone(t)
        tj = json.loads(self.m.read('tasks/%d/task.json' % t))
        self.assertEqual(tj['paths'], ['src/hello.c', 'tests/src/hello.c'])

    def test_lock_not_leaked_after_kill9(self):
        a = self.task('a', ['src'], hold=True)
        wait_for(lambda: self.running('a'), 30, msg='task a to run')
        self.m.kill9()
        self.go('a')
        self.m.remount()
        # whatever became of a, b gets its paths
        self.m.wait_final(a, 60)
        b = self.task('b', ['src/hello.c'])
        self.assertDone(b)


class TestPredicted(PaiTestCase):
    """conflicts marks the pairs whose paths overlap: conflicting or not."""

    def prepare_repo(self, repo):
        git(repo, 'config', 'parallelai.outsidePaths', 'keep')

    def test_predicted_pairs_in_conflicts(self):
        a = self.m.submit(json.dumps({'prompt': 'echo a > notes.txt', 'paths': ['notes.txt']}))
        b = self.m.submit(json.dumps({'prompt': 'echo b > notes.txt', 'paths': ['*.txt']}))
        c = self.m.submit(json.dumps({'prompt': 'echo c > src/c.c', 'paths': ['src']}))
        d = self.m.submit(json.dumps({'prompt': 'echo d > src/d.c', 'paths': ['src/d.c']}))
        for t in (a, b, c, d):
            self.assertDone(t)
        lines = self.m.read('conflicts').splitlines()
        self.assertIn('%d %d notes.txt' % (a, b), lines)
        self.assertIn('predicted %d %d (notes.txt, *.txt): conflicts' % (a, b), lines)
        self.assertIn('predicted %d %d (src, src/d.c): merges cleanly' % (c, d), lines)
        self.assertEqual(len([l for l in lines if l.startswith('predicted')]), 2)
        pj = json.loads(self.m.read('conflicts.json'))['predicted']
        self.assertIn({'a': a, 'b': b, 'paths': ['notes.txt', '*.txt'], 'conflict': True}, pj)
        self.assertIn({'a': c, 'b': d, 'paths': ['src', 'src/d.c'], 'conflict': False}, pj)


class TestStrict(MarksCase):
    config = (('parallelai.pathLocks', 'strict'),)

    def test_task_without_paths_owns_everything(self):
        a = self.task('a', ['docs'], hold=True)
        wait_for(lambda: self.running('a'), 30, msg='task a to run')
        n = self.task('n', None)
        wait_for(lambda: self.m.status(n).get('waiting_for'), 30,
                 msg='task n to wait for paths')
        self.assertEqual(self.m.status(n)['waiting_for'], 'paths held by task %d' % a)
        self.go('a')
        self.assertDone(a)
        self.assertDone(n)
        self.assertEqual(self.seen('n'), [])


class TestOff(MarksCase):
    config = (('parallelai.pathLocks', 'off'),)

    def test_overlapping_run_at_once(self):
        a = self.task('a', ['src'], hold=True)
        wait_for(lambda: self.running('a'), 30, msg='task a to run')
        b = self.task('b', ['src'])
        self.assertDone(b)
        self.assertEqual(self.seen('b'), ['run.a'])
        self.go('a')
        self.assertDone(a)


class OutsideCase(PaiTestCase):
    """An sh task owns src/hello.c and also writes notes.txt and new.txt."""

    mode = None
    prompt = 'echo more >> src/hello.c; echo four >> notes.txt; echo n > new.txt\n'

    def prepare_repo(self, repo):
        if self.mode:
            git(repo, 'config', 'parallelai.outsidePaths', self.mode)

    def run_outside(self):
        return self.m.submit(json.dumps({'prompt': self.prompt, 'paths': ['src/hello.c']}))

    def committed(self, tid):
        return sorted(l.split('\t', 1)[1] for l in
                      self.m.read('tasks/%d/files' % tid).splitlines() if l)

    def events_say(self, tid, action):
        ev = self.m.events_of('outside_paths', tid)
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual(ev[0]['files'], ['new.txt', 'notes.txt'])
        self.assertEqual(ev[0]['action'], action)


class TestOutsideFail(OutsideCase):

    def test_fails_and_says_which(self):
        t = self.run_outside()
        self.assertEqual(self.m.wait_final(t), 'failed')
        st = self.m.status(t)
        self.assertEqual(st['reason'], 'changed outside its paths: new.txt, notes.txt')
        self.assertEqual(st['outside_paths'], 'new.txt notes.txt')
        self.events_say(t, 'fail')
        # nothing the engine wrote is lost: it is committed
        self.assertEqual(self.committed(t), ['new.txt', 'notes.txt', 'src/hello.c'])

    def test_inside_only_is_done(self):
        t = self.m.submit(json.dumps({'prompt': 'echo x >> src/hello.c\n',
                                      'paths': ['src']}))
        self.assertDone(t)
        self.assertNotIn('outside_paths', self.m.status(t))
        self.assertEqual(self.m.events_of('outside_paths', t), [])

    def test_a_fix_round_puts_them_back(self):
        # round 1 leaves stray.txt; the check passes, but a fix round
        # names it; round 2 (the same script) takes it away
        prompt = ('if [ -e stray.txt ]; then rm stray.txt; else echo x > stray.txt; fi;'
                  ' echo y >> src/hello.c\n')
        t = self.m.submit(json.dumps({'prompt': prompt, 'paths': ['src/hello.c'],
                                      'check': 'true', 'fix_rounds': 1}))
        self.assertDone(t)
        self.assertIn('round 2 of 2: changed outside its paths: stray.txt',
                      self.m.read('tasks/%d/log' % t))
        self.assertEqual(self.committed(t), ['src/hello.c'])
        self.assertNotIn('outside_paths', self.m.status(t))

    def test_without_paths_nothing_is_outside(self):
        t = self.m.submit(self.prompt)
        self.assertDone(t)


class TestOutsideKeep(OutsideCase):
    mode = 'keep'

    def test_kept_and_listed(self):
        t = self.run_outside()
        self.assertDone(t)
        self.assertEqual(self.m.status(t)['outside_paths'], 'new.txt notes.txt')
        self.events_say(t, 'keep')
        self.assertEqual(self.committed(t), ['new.txt', 'notes.txt', 'src/hello.c'])


class TestOutsideDrop(OutsideCase):
    mode = 'drop'

    def test_left_uncommitted_in_the_worktree(self):
        t = self.run_outside()
        self.assertDone(t)
        self.assertEqual(self.m.status(t)['outside_paths'], 'new.txt notes.txt')
        self.events_say(t, 'drop')
        self.assertEqual(self.committed(t), ['src/hello.c'])
        wt = self.m.status(t)['worktree']
        with open(os.path.join(wt, 'new.txt')) as f:
            self.assertEqual(f.read(), 'n\n')
        with open(os.path.join(wt, 'notes.txt')) as f:
            self.assertTrue(f.read().endswith('four\n'))


if __name__ == '__main__':
    paitest.main()
