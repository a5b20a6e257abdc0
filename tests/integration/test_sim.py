#!/usr/bin/python3
"""The sim engine, the offline stand-in for an agent: a plan of five lines
planned and run by sim, a fan-out, a failing run and a retry, fix rounds
rehearsed with checkFailRate, -o simulate saying so everywhere, and the
same seed giving the same diffs. The real daemon, a real mount, real git:
sim is the product's own code, not a test double."""

import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import paitest  # noqa: E402
from paitest import PAI_BIN, PaiTestCase, git, wait_for  # noqa: E402

FIVE = ('- add a comment to src/hello.c\n'
        '- read README.md and note what it says\n'
        '- write release notes\n'
        '- update notes.txt after the README\n'
        '- review everything after all\n')


def spec(**fields):
    return json.dumps(fields) + '\n'


class SimTestCase(PaiTestCase):

    def prepare_repo(self, repo):
        git(repo, 'config', 'parallelai.engine', 'sim')
        git(repo, 'config', 'parallelai.planner', 'sim')
        git(repo, 'config', 'sim.seconds', '0')
        git(repo, 'config', 'parallelai.retryBase', '0')
        git(repo, 'config', 'parallelai.killGrace', '200')

    def log(self, tid):
        return self.m.read('tasks/%d/log' % tid)

    def ends(self, tid, state, timeout=60):
        got = self.m.wait_final(tid, timeout)
        self.assertEqual(got, state, 'task %d ended %s\nstatus:\n%s\nlog:\n%s'
                         % (tid, got, self.m.read('tasks/%d/status' % tid), self.log(tid)))

    def files(self, tid):
        return self.m.read('tasks/%d/files' % tid).split('\n')

    def new_plan(self, text):
        before = set(self.plan_ids())
        with open(self.m.path('plans/new'), 'w') as f:
            f.write(text)
        new = set(self.plan_ids()) - before
        self.assertEqual(len(new), 1)
        return new.pop()

    def plan_ids(self):
        return sorted(int(n) for n in os.listdir(self.m.path('plans')) if n.isdigit())

    def plan_state(self, pid):
        return self.m.read('plans/%d/status' % pid).split('\n', 1)[0].strip()


class TestSimEngine(SimTestCase):

    def test_plan_of_five_lines_planned_and_run_by_sim(self):
        pid = self.new_plan(FIVE)
        wait_for(lambda: self.plan_state(pid) in ('created', 'failed'), 30,
                 msg='plan %d to be made' % pid)
        self.assertEqual(self.plan_state(pid), 'created',
                         self.m.read('plans/%d/log' % pid))
        ids = [int(x) for x in self.m.read('plans/%d/tasks' % pid).split()]
        self.assertEqual(len(ids), 5)
        prompts = [self.m.read('tasks/%d/prompt' % t).strip() for t in ids]
        self.assertEqual(prompts, [line[2:] for line in FIVE.splitlines()])
        deps = [self.m.read('tasks/%d/depends' % t).split() for t in ids]
        self.assertEqual(deps, [[], [], [], [str(ids[1])],
                                [str(t) for t in ids[:4]]])
        for t in ids:
            self.ends(t, 'done')
        # each edited what its line names, or wrote its notes
        self.assertIn('M\tsrc/hello.c', self.files(ids[0]))
        self.assertIn('// sim: task %d: ' % ids[0], self.m.read('tasks/%d/diff' % ids[0]))
        self.assertIn('M\tREADME.md', self.files(ids[1]))
        self.assertIn('<!-- sim: task %d: ' % ids[1], self.m.read('tasks/%d/diff' % ids[1]))
        self.assertIn('A\tNOTES-%d.md' % ids[2], self.files(ids[2]))
        self.assertIn('M\tnotes.txt', self.files(ids[3]))
        self.assertIn('A\tNOTES-%d.md' % ids[4], self.files(ids[4]))
        # an agent's log, tokens and a cost ($3/$15 per million by default)
        log = self.log(ids[0])
        self.assertIn('» Read src/hello.c', log)
        self.assertIn('» Edit src/hello.c', log)
        st = self.m.status(ids[0])
        self.assertEqual(st.get('engine'), 'sim')
        self.assertGreater(int(st['input_tokens']), 0)
        self.assertGreater(int(st['output_tokens']), 0)
        self.assertGreater(float(st['cost_usd']), 0)
        self.assertEqual(self.m.read('tasks/%d/result' % ids[0]).split(' (')[0],
                         'Done: src/hello.c')
        # the raw stream and the final message, as an agent CLI's
        self.assertIn('"tool_use"', self.m.read('tasks/%d/log.jsonl' % ids[0]))
        # the planner's transcript is an agent's too
        self.assertIn("I'll split the request", self.m.read('plans/%d/log' % pid))

    def test_fanout_edits_each_file(self):
        git(self.m.repo, 'rm', '-q', 'src/old.txt')
        for rel, text in (('src/a.py', 'x = 1\n'), ('src/b.sh', 'echo b\n')):
            with open(os.path.join(self.m.repo, rel), 'w') as f:
                f.write(text)
        git(self.m.repo, 'add', '-A')
        git(self.m.repo, 'commit', '-q', '-m', 'three sources')
        self.m.write_new(spec(prompt='review {file}', each='src/*',
                              then={'prompt': 'sum up the reviews'}))
        ids = self.m.task_ids()
        self.assertEqual(len(ids), 4)
        for t in ids:
            self.ends(t, 'done')
        got = {self.m.read('tasks/%d/prompt' % t).strip(): self.files(t) for t in ids}
        self.assertEqual(got['review src/a.py'], ['M\tsrc/a.py', ''])
        self.assertEqual(got['review src/b.sh'], ['M\tsrc/b.sh', ''])
        self.assertEqual(got['review src/hello.c'], ['M\tsrc/hello.c', ''])
        self.assertEqual(got['sum up the reviews'], ['A\tNOTES-%d.md' % ids[-1], ''])
        self.assertIn('# sim: task ', self.m.read('tasks/%d/diff' % ids[0]))

    def test_never_edits_outside_the_worktree(self):
        outdir = os.path.join(self.tmp, 'outdir')
        os.makedirs(outdir)
        outside = os.path.join(outdir, 'outside.c')
        other = os.path.join(outdir, 'other.c')
        for path in (outside, other):
            with open(path, 'w') as f:
                f.write('int outside;\n')
        # a link to the file, a link to its directory, and (made by the
        # worktree's setup) a hard link to it
        os.symlink(outside, os.path.join(self.m.repo, 'link.c'))
        os.symlink(outdir, os.path.join(self.m.repo, 'linkdir'))
        git(self.m.repo, 'add', 'link.c', 'linkdir')
        git(self.m.repo, 'commit', '-q', '-m', 'links out')
        self.m.unmount()
        git(self.m.repo, 'config', 'worktree.setup', 'ln %s hard.c' % outside)
        # a hard link out of the worktree: an overlay's (another device)
        # refuses it (EXDEV), so a checkout of its own
        self.m.opts = [o for o in self.m.opts if not o.startswith('checkout=')]
        self.m.opts.append('checkout=full')
        self.m.start()
        tid = self.m.submit('edit link.c, linkdir/other.c, hard.c, ../outdir/outside.c,'
                            ' %s and .git/config' % outside)
        self.ends(tid, 'done')
        for path in (outside, other):
            with open(path) as f:
                self.assertEqual(f.read(), 'int outside;\n', path)
        self.assertEqual(self.files(tid), ['A\tNOTES-%d.md' % tid, 'A\thard.c', ''])
        with open(os.path.join(self.m.repo, '.git', 'config')) as f:
            self.assertNotIn('sim: task', f.read())

    def seed_failing_once(self, prompt, tid):
        """A seed with which `parallelai sim` fails attempt 1 of task tid
        at failRate 0.5 and not attempt 2: asked of the binary itself."""
        pf = os.path.join(self.tmp, 'probe-prompt')
        wt = os.path.join(self.tmp, 'probe')
        with open(pf, 'w') as f:
            f.write(prompt)
        for seed in range(200):
            codes = []
            for attempt in (1, 2):
                paitest.shutil.rmtree(wt, ignore_errors=True)
                os.makedirs(wt)
                r = subprocess.run([PAI_BIN, 'sim', '--prompt-file', pf, '--worktree', wt,
                                    '--task', str(tid), '--attempt', str(attempt),
                                    '--seconds', '0', '--fail-rate', '0.5',
                                    '--seed', str(seed)], capture_output=True)
                codes.append(r.returncode)
            if codes == [1, 0]:
                return seed
        self.fail('no seed fails attempt 1 only')

    def test_failing_run_and_retry(self):
        tid = self.m.submit(spec(prompt='touch up src/hello.c', sim={'failRate': 1}))
        self.ends(tid, 'failed')
        st = self.m.status(tid)
        self.assertIn('sim (failRate 1): API Error', st['reason'])
        self.assertIn('! ', self.log(tid))
        self.assertEqual(self.m.read('tasks/%d/diff' % tid), '')
        self.m.ctl('tasks/%d/ctl' % tid, 'retry')
        wait_for(lambda: self.m.status(tid).get('attempts') == '2' and
                 self.m.state(tid) == 'failed', 30, msg='the retry to fail again')
        # failRate 0.5 with a seed that fails the first attempt only: the
        # spec's retries take it to done
        prompt = 'tidy src/hello.c'
        seed = self.seed_failing_once(prompt, tid + 1)
        t2 = self.m.submit(spec(prompt=prompt, retries=2,
                                sim={'failRate': 0.5, 'seed': seed}))
        self.assertEqual(t2, tid + 1)
        self.ends(t2, 'done')
        self.assertEqual(self.m.status(t2)['attempts'], '2')
        self.assertIn('API Error', self.log(t2))
        self.assertIn('M\tsrc/hello.c', self.files(t2))

    def test_fix_rounds_rehearsed_with_check_fail_rate(self):
        tid = self.m.submit(spec(prompt='tidy src/hello.c', check='grep -q sim src/hello.c',
                                 sim={'checkFailRate': 1}))
        self.ends(tid, 'done')
        st = self.m.status(tid)
        self.assertEqual(st['check'], 'passed, round 2 of 3')
        log = self.log(tid)
        self.assertIn('sim: the check fails in this round by design', log)
        self.assertIn('round 2 of 3: the check exited 1', log)
        self.assertIn('The check failed; round 2 of 3', log)
        diff = self.m.read('tasks/%d/diff' % tid)
        self.assertIn('// sim: task %d, round 2: fixed what the check reported' % tid, diff)
        failed = self.m.events_of('check_failed', tid)
        passed = self.m.events_of('check_passed', tid)
        self.assertEqual([e['round'] for e in failed], [1])
        self.assertEqual([e['round'] for e in passed], [2])
        # without fix rounds the rehearsed failure fails the task
        t2 = self.m.submit(spec(prompt='tidy src/hello.c', check='true', fix_rounds=0,
                                sim={'checkFailRate': 1}))
        self.ends(t2, 'failed')
        self.assertEqual(self.m.status(t2)['reason'], 'check failed: true exited 1')
        # checkFailRate 0: the check runs, and passes
        t3 = self.m.submit(spec(prompt='tidy src/hello.c', check='grep -q sim src/hello.c'))
        self.ends(t3, 'done')
        self.assertEqual(self.m.status(t3)['check'], 'passed, round 1 of 3')

    def test_same_seed_same_diffs(self):
        prompts = ['review src/hello.c', 'write notes', 'look at README.md and notes.txt']

        def diffs(m):
            ids = [m.submit(p) for p in prompts]
            for t in ids:
                got = m.wait_final(t, 60)
                self.assertEqual(got, 'done', m.read('tasks/%d/log' % t))
            return [m.read('tasks/%d/diff' % t) for t in ids]

        def mount(name, seed):
            m = paitest.Mount(os.path.join(self.tmp, name), workers=2)
            self.addCleanup(m.cleanup)
            self.prepare_repo(m.repo)
            git(m.repo, 'config', 'sim.seed', str(seed))
            m.start()
            self.addCleanup(m.shutdown)
            return m

        a, b, c = mount('a', 42), mount('b', 42), mount('c', 43)
        da, db, dc = diffs(a), diffs(b), diffs(c)
        self.assertEqual(da, db)
        self.assertTrue(all(da), da)
        self.assertNotEqual(da, dc)


class TestSimulate(SimTestCase):
    mount_opts = ('simulate', 'sim.seconds=0')

    def prepare_repo(self, repo):
        # sh and a command engine configured: -o simulate overrides them
        git(repo, 'config', 'parallelai.engine', 'sh')
        git(repo, 'config', 'engine.mine.command', 'false')

    def test_simulate_switches_every_engine_and_says_so(self):
        banner = 'SIMULATION (-o simulate): every engine, the planner and the judge are sim'
        self.assertIn('parallelai: ' + banner, self.m.stderr_text())
        self.assertTrue(self.m.read('README').startswith(banner))
        root = self.m.kv('status')
        self.assertEqual(root['engine'], 'sim')
        self.assertTrue(root['simulate'].startswith('yes'))
        self.assertIs(json.loads(self.m.read('status.json'))['simulate'], True)
        t1 = self.m.submit('echo not run > src/hello.c')
        t2 = self.m.submit(spec(prompt='improve src/hello.c', engine='claude'))
        t3 = self.m.submit(spec(prompt='improve notes.txt', engine='mine'))
        for t in (t1, t2, t3):
            self.ends(t, 'done')
            st = self.m.status(t)
            self.assertEqual(st['engine'], 'sim')
            self.assertTrue(st['simulate'].startswith('yes: sim stands in'))
            self.assertIs(json.loads(self.m.read('tasks/%d/task.json' % t))['simulate'], True)
        self.assertNotIn('not run', self.m.read('tasks/%d/diff' % t1))
        self.assertIn('// sim: task %d' % t2, self.m.read('tasks/%d/diff' % t2))
        # the planner too, whatever the plan asks for
        with open(self.m.path('plans/new'), 'w') as f:
            f.write(json.dumps({'request': 'one\ntwo after one\n', 'engine': 'mine'}))
        wait_for(lambda: self.m.read('plans/1/status').startswith(('created', 'failed')),
                 30, msg='the plan')
        self.assertTrue(self.m.read('plans/1/status').startswith('created'),
                        self.m.read('plans/1/log'))
        ids = [int(x) for x in self.m.read('plans/1/tasks').split()]
        for t in ids:
            self.ends(t, 'done')
            self.assertEqual(self.m.status(t)['engine'], 'sim')


if __name__ == '__main__':
    paitest.main()
