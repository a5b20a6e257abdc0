#!/usr/bin/python3
"""Scheduling: task specs, dependencies, priorities, limits per engine,
timeouts and stalls, retries with backoff, fan-out, base and branch."""

import errno
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, pid_alive, sh, wait_for  # noqa: E402


def spec(**fields):
    return json.dumps(fields) + '\n'


def gate(path):
    """A shell line that waits until path exists."""
    return 'while [ ! -e %s ]; do sleep 0.05; done' % path


class SchedTestCase(PaiTestCase):
    """Short backoffs and kill grace so the tests stay quick."""

    retry_base = 1

    def prepare_repo(self, repo):
        git(repo, 'config', 'parallelai.killGrace', '200')
        git(repo, 'config', 'parallelai.retryBase', str(self.retry_base))
        git(repo, 'config', 'parallelai.retryMax', '30')

    def task_json(self, tid):
        return json.loads(self.m.read('tasks/%d/task.json' % tid))

    def started_order(self):
        return [e['task'] for e in self.m.events() if e.get('event') == 'started']

    def gate_file(self, name):
        return os.path.join(self.tmp, name)


# ---- specs -------------------------------------------------------------

class TestSpecs(SchedTestCase):

    def test_every_field_shows_in_task_json_and_status(self):
        a = self.m.submit('true\n')
        b = self.m.submit('true\n')
        self.assertDone(a)
        self.assertDone(b)
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        tid = self.m.submit(spec(prompt='echo hi', engine='sh', depends=[a, b], priority=3,
                                 timeout=60, stall=30, retries=2, labels=['fast', 'two words']))
        j = self.task_json(tid)
        self.assertEqual(j['priority'], 3)
        self.assertEqual(j['timeout'], 60)
        self.assertEqual(j['stall'], 30)
        self.assertEqual(j['retries'], 2)
        self.assertEqual(j['labels'], ['fast', 'two words'])
        self.assertEqual(j['depends'], [a, b])
        self.assertEqual(j['engine'], 'sh')
        st = self.m.status(tid)
        self.assertEqual(st['priority'], '3')
        self.assertEqual(st['timeout'], '60')
        self.assertEqual(st['stall'], '30')
        self.assertEqual(st['retries'], '2')
        self.assertEqual(st['depends'], '%d %d' % (a, b))
        self.assertEqual(st['labels'], 'fast two words')
        self.assertEqual(self.m.read('tasks/%d/depends' % tid).split(), [str(a), str(b)])
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        self.assertDone(tid)

    def test_task_without_dependencies_has_empty_depends_file(self):
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        self.assertEqual(self.m.read('tasks/%d/depends' % tid), '')
        self.assertEqual(self.task_json(tid).get('depends', []), [])

    def test_unknown_field_is_refused(self):
        self.assertRefused(spec(prompt='true', colour='red'), 'colour')

    def test_misspelled_field_is_refused(self):
        self.assertRefused(spec(prompt='true', priorty=3), 'priorty')

    def test_wrong_types_are_refused(self):
        for field, value in (('priority', 'high'), ('priority', 1.5), ('timeout', 'soon'),
                             ('timeout', -1), ('stall', [1]), ('retries', -1),
                             ('retries', 'twice'), ('labels', 'one'), ('labels', [1, 2]),
                             ('depends', 'all'), ('depends', ['x']), ('base', 7),
                             ('branch', ''), ('each', 3), ('then', 'later'),
                             ('prompt', 42)):
            with self.subTest(field=field, value=value):
                fields = {'prompt': 'true', field: value}
                self.assertRefused(json.dumps(fields) + '\n', field)

    def test_dependency_on_missing_task_is_refused(self):
        self.assertRefused(spec(prompt='true', depends=[999]), '999')

    def test_dependency_on_itself_is_refused(self):
        # ids are given in order: the next task's own id does not exist yet,
        # so no spec can make a task wait for itself (or close a cycle)
        a = self.m.submit('true\n')
        self.assertRefused(spec(prompt='true', depends=[a + 1]), str(a + 1))
        self.assertRefused(spec(prompt='true', depends=[a, a + 1]), str(a + 1))
        self.assertDone(a)

    def test_refusal_leaves_nothing_running(self):
        self.assertRefused(spec(prompt='touch %s' % self.gate_file('ran'), bogus=1), 'bogus')
        other = self.m.submit('true\n')
        self.assertDone(other)
        self.assertFalse(os.path.exists(self.gate_file('ran')))
        self.assertEqual(self.m.task_ids(), [other])


# ---- dependencies ------------------------------------------------------

class TestDependencies(SchedTestCase):

    def test_dependent_waits_until_dependency_is_done(self):
        go = self.gate_file('go')
        a = self.m.submit(gate(go) + '\n')
        b = self.m.submit(spec(prompt='true', depends=[a]))
        self.assertEqual(self.m.state(b), 'waiting')
        created = self.m.events_of('created', b)
        self.assertEqual(created[-1].get('state'), 'waiting')
        time.sleep(0.5)
        self.assertEqual(self.m.state(b), 'waiting')
        self.assertFalse(self.m.events_of('started', b))
        open(go, 'w').close()
        self.assertDone(a)
        self.assertDone(b)
        self.assertTrue(self.m.events_of('released', b))
        order = [(e['event'], e['task']) for e in self.m.events()
                 if e.get('event') in ('finished', 'started') and e.get('task') in (a, b)]
        self.assertLess(order.index(('finished', a)), order.index(('started', b)))

    def test_dependency_failure_blocks_the_chain_and_retry_releases_it(self):
        g1, ok, g2 = self.gate_file('g1'), self.gate_file('ok'), self.gate_file('g2')
        a = self.m.submit('%s; if [ -e %s ]; then %s; exit 0; fi; exit 1\n' % (gate(g1), ok, gate(g2)))
        b = self.m.submit(spec(prompt='true', depends=[a]))
        c = self.m.submit(spec(prompt='true', depends=[b]))
        self.assertEqual(self.m.state(b), 'waiting')
        self.assertEqual(self.m.state(c), 'waiting')
        open(g1, 'w').close()
        self.assertEqual(self.m.wait_final(a), 'failed')
        self.m.wait_state(b, 'blocked', 20)
        self.m.wait_state(c, 'blocked', 20)
        self.assertEqual(self.m.status(b).get('reason'), 'dependency %d failed' % a)
        self.assertEqual(self.m.status(c).get('reason'), 'dependency %d is blocked' % b)
        self.assertTrue(self.m.events_of('blocked', b))
        self.assertTrue(self.m.events_of('blocked', c))

        open(ok, 'w').close()
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % a, 'retry\n'), 0)
        self.m.wait_state(b, 'waiting', 20)
        self.m.wait_state(c, 'waiting', 20)
        self.assertTrue(self.m.events_of('waiting', b))
        self.assertTrue(self.m.events_of('waiting', c))
        open(g2, 'w').close()
        self.assertDone(a)
        self.assertDone(b)
        self.assertDone(c)
        self.assertTrue(self.m.events_of('released', b))
        self.assertTrue(self.m.events_of('released', c))

    def test_cancelled_dependency_blocks_dependent(self):
        go = self.gate_file('go')
        a = self.m.submit(gate(go) + '\n')
        b = self.m.submit(spec(prompt='true', depends=[a]))
        self.m.wait_state(a, 'running')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % a, 'cancel\n'), 0)
        self.assertEqual(self.m.wait_final(a), 'cancelled')
        self.m.wait_state(b, 'blocked', 20)
        reason = self.m.status(b).get('reason', '')
        self.assertIn('dependency %d' % a, reason)
        self.assertIn('cancel', reason)
        self.assertFalse(self.m.events_of('started', b))

    def test_task_created_on_failed_dependency_is_blocked_at_once(self):
        a = self.m.submit('exit 1\n')
        self.assertEqual(self.m.wait_final(a), 'failed')
        b = self.m.submit(spec(prompt='true', depends=[a]))
        self.assertEqual(self.m.state(b), 'blocked')
        self.assertEqual(self.m.status(b).get('reason'), 'dependency %d failed' % a)
        self.assertEqual(self.m.events_of('created', b)[-1].get('state'), 'blocked')

    def test_task_created_on_done_dependency_runs_at_once(self):
        a = self.m.submit('true\n')
        self.assertDone(a)
        b = self.m.submit(spec(prompt='true', depends=[a]))
        self.assertDone(b)

    def test_blocked_task_can_be_cancelled(self):
        a = self.m.submit('exit 1\n')
        self.assertEqual(self.m.wait_final(a), 'failed')
        b = self.m.submit(spec(prompt='true', depends=[a]))
        self.assertEqual(self.m.state(b), 'blocked')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % b, 'cancel\n'), 0)
        self.assertEqual(self.m.state(b), 'cancelled')

    def test_dependent_sees_what_its_dependency_wrote(self):
        a = self.m.submit('echo from-a > a.txt\n')
        b = self.m.submit(spec(prompt='cat a.txt > b.txt', depends=[a]))
        self.assertDone(a)
        self.assertDone(b)
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:b.txt' % b), 'from-a\n')

    def test_three_step_pipeline_step_three_sees_steps_one_and_two(self):
        s1 = self.m.submit('echo one > one.txt\n')
        s2 = self.m.submit('echo two > two.txt\n')
        s3 = self.m.submit(spec(prompt='cat one.txt two.txt > both.txt', depends=[s1, s2]))
        for t in (s1, s2, s3):
            self.assertDone(t)
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:both.txt' % s3), 'one\ntwo\n')

    def test_conflicting_dependencies_name_the_conflicting_path(self):
        a = self.m.submit('echo from-a > clash.txt\n')
        b = self.m.submit('echo from-b > clash.txt\n')
        c = self.m.submit(spec(prompt='touch %s' % self.gate_file('c-ran'), depends=[a, b]))
        self.assertDone(a)
        self.assertDone(b)
        # the README: blocked, the reason naming the paths; never run
        state = self.m.wait_state(c, ('failed', 'blocked', 'done', 'cancelled'))
        self.assertEqual(state, 'blocked')
        self.assertIn('clash.txt', self.m.status(c).get('reason', ''))
        self.assertEqual([e['task'] for e in self.m.events_of('blocked', c)], [c])
        self.assertFalse(os.path.exists(self.gate_file('c-ran')))


# ---- order ---------------------------------------------------------------

class TestPriority(SchedTestCase):

    workers = 1

    def test_higher_priority_starts_first_then_older(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        prios = [0, 5, -3, 5, 1]
        ids = [self.m.submit(spec(prompt='true', priority=p)) for p in prios]
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        for t in ids:
            self.assertDone(t)
        want = [t for _, _, t in sorted((-p, t, t) for p, t in zip(prios, ids))]
        self.assertEqual(self.started_order(), want)

    def test_priority_command_reorders_queued_tasks(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        a, b, c = (self.m.submit('true # %d\n' % i) for i in range(3))
        r = sh("echo 'priority 5' > %s/tasks/%d/ctl" % (self.m.mnt, c))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % a, 'priority -2\n'), 0)
        self.assertEqual(self.m.status(c).get('priority'), '5')
        self.assertEqual(self.task_json(a)['priority'], -2)
        self.assertTrue(self.m.events_of('priority', c))
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        for t in (a, b, c):
            self.assertDone(t)
        self.assertEqual(self.started_order(), [c, b, a])

    def test_priority_command_on_waiting_task(self):
        go = self.gate_file('go')
        a = self.m.submit(gate(go) + '\n')
        b = self.m.submit(spec(prompt='true', depends=[a]))
        self.assertEqual(self.m.state(b), 'waiting')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % b, 'priority 7\n'), 0)
        self.assertEqual(self.m.status(b).get('priority'), '7')
        open(go, 'w').close()
        self.assertDone(b)

    def test_priority_command_on_running_or_done_task_is_ebusy(self):
        go = self.gate_file('go')
        a = self.m.submit(gate(go) + '\n')
        self.m.wait_state(a, 'running')
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % a, 'priority 3\n'), errno.EBUSY)
        open(go, 'w').close()
        self.assertDone(a)
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % a, 'priority 3\n'), errno.EBUSY)
        self.assertNotIn('priority', self.m.status(a))
        self.assertTrue(self.refused_events())

    def test_malformed_priority_command_is_einval(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        a = self.m.submit('true\n')
        for cmd in ('priority\n', 'priority high\n', 'priority 1.5\n', 'priority 3x\n'):
            with self.subTest(cmd=cmd):
                self.assertErrno(self.m.ctl('tasks/%d/ctl' % a, cmd), errno.EINVAL)
        self.assertNotIn('priority', self.m.status(a))


class TestEngineLimits(SchedTestCase):

    workers = 4

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        # the engines' shared log is outside their worktrees: writable in
        # the sandbox
        notes = os.path.join(self.tmp, 'notes')
        os.makedirs(notes)
        git(repo, 'config', 'engine.slow.bindRw', notes)
        self.log = os.path.join(notes, 'slow.log')
        self.go = os.path.join(self.tmp, 'slow.go')
        script = os.path.join(self.tmp, 'slow.sh')
        with open(script, 'w') as f:
            f.write('note() { ( flock 9; echo "$1 $PAI_TASK_ID" >> %(log)s ) 9>>%(log)s.lock; }\n'
                    'note start\n'
                    '%(gate)s\n'
                    'sleep 0.2\n'
                    'note end\n' % {'log': self.log, 'gate': gate(self.go)})
        git(repo, 'config', 'engine.slow.command', 'sh %s' % script)
        git(repo, 'config', 'engine.slow.max', '2')

    def log_lines(self):
        try:
            with open(self.log) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def test_engine_max_caps_how_many_run_at_once(self):
        ids = [self.m.submit(spec(prompt='slow %d' % i, engine='slow')) for i in range(6)]
        wait_for(lambda: self.log_lines().count('start') == 2, 30, msg='two slow engines to start')
        # another engine keeps the free slots busy meanwhile
        other = self.m.submit('true\n')
        self.assertDone(other)
        time.sleep(0.5)
        self.assertEqual(self.log_lines().count('start'), 2)
        states = sorted(self.m.state(t) for t in ids)
        self.assertEqual(states, ['queued'] * 4 + ['running'] * 2)
        open(self.go, 'w').close()
        for t in ids:
            self.assertDone(t)
        words = self.log_lines()
        self.assertEqual(words.count('start'), 6)
        self.assertEqual(words.count('end'), 6)
        now = peak = 0
        for w in words[0::2]:
            now += 1 if w == 'start' else -1
            peak = max(peak, now)
        self.assertEqual(peak, 2, words)


# ---- time ------------------------------------------------------------------

class TestTimeouts(SchedTestCase):

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        # These follow the engine's grandchild by the pid it writes into
        # the test's directory: a sandbox's PID namespace and read-only
        # file system hide both. test_sandbox times sandboxed runs out.
        git(repo, 'config', 'parallelai.sandbox', 'none')

    def grandchild_prompt(self, before=''):
        self.pidfile = self.gate_file('grandchild.pid')
        return '%ssleep 300 & echo $! > %s; sleep 300\n' % (before, self.pidfile)

    def assertGroupGone(self, tid):
        wt = os.path.realpath(self.m.status(tid)['worktree'])
        with open(self.pidfile) as f:
            child = int(f.read())
        wait_for(lambda: not pid_alive(child), 20, msg='grandchild %d to be killed' % child)
        wait_for(lambda: not paitest.pids_under(wt), 20, msg='no process left in %s' % wt)

    def test_timeout_kills_the_process_group_and_fails_the_task(self):
        tid = self.m.submit(spec(prompt=self.grandchild_prompt(), timeout=1))
        self.assertEqual(self.m.wait_final(tid, 30), 'failed')
        self.assertEqual(self.m.status(tid).get('reason'), 'timeout: killed after 1 s')
        self.assertIn('timeout: killed after 1 s', self.m.read('tasks/%d/log' % tid))
        self.assertGroupGone(tid)

    def test_timeout_kills_engine_that_ignores_sigterm(self):
        tid = self.m.submit(spec(prompt=self.grandchild_prompt("trap '' TERM; "), timeout=1))
        self.assertEqual(self.m.wait_final(tid, 30), 'failed')
        self.assertEqual(self.m.status(tid).get('reason'), 'timeout: killed after 1 s')
        self.assertGroupGone(tid)

    def test_stall_kills_a_silent_engine(self):
        tid = self.m.submit(spec(prompt=self.grandchild_prompt('echo started; '), stall=1))
        self.assertEqual(self.m.wait_final(tid, 30), 'failed')
        self.assertEqual(self.m.status(tid).get('reason'), 'stalled: no output for 1 s')
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('started', log)
        self.assertIn('stalled: no output for 1 s', log)
        self.assertGroupGone(tid)

    def test_engine_that_keeps_talking_is_not_stalled(self):
        tid = self.m.submit(spec(prompt='for i in $(seq 30); do echo tick $i; sleep 0.1; done',
                                 stall=2))
        self.assertDone(tid)
        self.assertIn('tick 30', self.m.read('tasks/%d/log' % tid))

    def test_task_quicker_than_its_timeout_is_done(self):
        tid = self.m.submit(spec(prompt='echo quick', timeout=60))
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('timeout'), '60')


class TestRetries(SchedTestCase):

    def flaky(self):
        # the first attempt leaves a file in the worktree; the second sees it
        return 'if [ -e attempt1.txt ]; then echo second-try; exit 0; fi; ' \
               'echo first-try; echo 1 > attempt1.txt; exit 1'

    def test_failed_attempt_is_retried_in_the_same_worktree(self):
        tid = self.m.submit(spec(prompt=self.flaky(), retries=2))
        self.assertDone(tid)
        st = self.m.status(tid)
        self.assertEqual(st.get('attempts'), '2')
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('first-try', log)
        self.assertIn('second-try', log)
        self.assertLess(log.index('first-try'), log.index('second-try'))
        self.assertIn('parallelai: attempt 1 failed (', log)
        self.assertIn('); retrying in 1 s', log)
        self.assertIn('--- parallelai: attempt 2 ---', log)
        self.assertLess(log.index('first-try'), log.index('--- parallelai: attempt 2 ---'))
        self.assertLess(log.index('--- parallelai: attempt 2 ---'), log.index('second-try'))
        ev = self.m.events_of('retrying', tid)
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0].get('attempt'), 1)

    def test_retries_run_out_and_the_task_fails(self):
        tid = self.m.submit(spec(prompt='echo try; exit 3', retries=2))
        self.assertEqual(self.m.wait_final(tid), 'failed')
        st = self.m.status(tid)
        self.assertEqual(st.get('attempts'), '3')
        self.assertEqual(st.get('exit'), '3')
        log = self.m.read('tasks/%d/log' % tid)
        self.assertEqual(log.count('try\n'), 3)
        self.assertIn('--- parallelai: attempt 2 ---', log)
        self.assertIn('--- parallelai: attempt 3 ---', log)
        self.assertNotIn('attempt 4', log)
        # min(retryBase * 2^(n-1), retryMax): 1 s, then 2 s
        self.assertIn('attempt 1 failed (', log)
        self.assertIn('retrying in 1 s', log)
        self.assertIn('attempt 2 failed (', log)
        self.assertIn('retrying in 2 s', log)
        self.assertEqual([e.get('attempt') for e in self.m.events_of('retrying', tid)], [1, 2])

    def test_task_without_retries_fails_at_once(self):
        tid = self.m.submit('exit 1\n')
        self.assertEqual(self.m.wait_final(tid), 'failed')
        self.assertEqual(self.m.status(tid).get('attempts'), '1')
        self.assertFalse(self.m.events_of('retrying', tid))

    def test_timed_out_attempt_is_retried(self):
        prompt = 'if [ -e attempt1.txt ]; then exit 0; fi; touch attempt1.txt; sleep 300'
        tid = self.m.submit(spec(prompt=prompt, timeout=1, retries=1))
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('attempts'), '2')
        self.assertIn('timeout', self.m.events_of('retrying', tid)[0].get('reason', ''))

    def test_cancelled_task_is_not_retried(self):
        go = self.gate_file('go')
        tid = self.m.submit(spec(prompt=gate(go), retries=3))
        self.m.wait_state(tid, 'running')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')
        time.sleep(2.5)
        self.assertEqual(self.m.state(tid), 'cancelled')
        self.assertEqual(self.m.status(tid).get('attempts'), '1')
        self.assertFalse(self.m.events_of('retrying', tid))
        self.assertEqual(len(self.m.events_of('started', tid)), 1)

    def test_dependent_waits_through_the_retries(self):
        a = self.m.submit(spec(prompt=self.flaky(), retries=1))
        b = self.m.submit(spec(prompt='true', depends=[a]))
        self.assertDone(a)
        self.assertDone(b)
        self.assertFalse(self.m.events_of('blocked', b))


class TestBackoff(SchedTestCase):
    """A backoff long enough to look at."""

    retry_base = 4

    def flaky(self):
        return 'if [ -e attempt1.txt ]; then exit 0; fi; touch attempt1.txt; exit 1'

    def wait_backoff(self, tid):
        wait_for(lambda: self.m.events_of('retrying', tid), 30, msg='a retrying event')
        return wait_for(lambda: self.m.status(tid).get('retry_at'), 10, msg='retry_at in status')

    def test_status_shows_retry_at_while_backing_off(self):
        tid = self.m.submit(spec(prompt=self.flaky(), retries=1))
        retry_at = self.wait_backoff(tid)
        self.assertRegex(retry_at, r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
        st = self.m.status(tid)
        self.assertEqual(self.m.state(tid), 'queued')
        self.assertEqual(st.get('attempts'), '1')
        self.assertEqual(self.m.events_of('retrying', tid)[0].get('delay'), 4)
        self.assertDone(tid)
        self.assertNotIn('retry_at', self.m.status(tid))
        started = self.m.events_of('started', tid)
        self.assertEqual(len(started), 2)
        self.assertGreaterEqual(started[1]['time'][:19] + 'Z', retry_at)

    def test_priority_can_change_during_backoff(self):
        tid = self.m.submit(spec(prompt=self.flaky(), retries=1))
        self.wait_backoff(tid)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'priority 9\n'), 0)
        self.assertEqual(self.m.status(tid).get('priority'), '9')
        self.assertDone(tid)

    def test_cancel_during_backoff_is_final(self):
        tid = self.m.submit(spec(prompt='exit 1', retries=1))
        self.wait_backoff(tid)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.assertEqual(self.m.state(tid), 'cancelled')
        self.assertNotIn('retry_at', self.m.status(tid))
        time.sleep(5)
        self.assertEqual(self.m.state(tid), 'cancelled')
        self.assertEqual(len(self.m.events_of('started', tid)), 1)

    def test_kill_9_during_backoff_keeps_its_due_time(self):
        tid = self.m.submit(spec(prompt=self.flaky(), retries=1))
        retry_at = self.wait_backoff(tid)
        self.m.kill9()
        self.m.remount()
        self.assertEqual(self.m.state(tid), 'queued')
        self.assertEqual(self.m.status(tid).get('attempts'), '1')
        self.assertEqual(self.m.status(tid).get('retry_at'), retry_at)
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('attempts'), '2')
        started = self.m.events_of('started', tid)
        self.assertEqual(len(started), 2)
        self.assertGreaterEqual(started[1]['time'][:19] + 'Z', retry_at)

    def test_unmount_during_backoff_keeps_its_due_time(self):
        tid = self.m.submit(spec(prompt=self.flaky(), retries=1))
        retry_at = self.wait_backoff(tid)
        self.m.unmount()
        self.m.remount()
        self.assertEqual(self.m.state(tid), 'queued')
        self.assertEqual(self.m.status(tid).get('retry_at'), retry_at)
        self.assertDone(tid)
        started = self.m.events_of('started', tid)
        self.assertGreaterEqual(started[-1]['time'][:19] + 'Z', retry_at)


class TestDurability(SchedTestCase):

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        # test_timeout_still_applies_after_kill_9 follows its engines by
        # the pids they write into the test's directory (see TestTimeouts)
        git(repo, 'config', 'parallelai.sandbox', 'none')

    def test_kill_9_while_waiting_keeps_it_waiting(self):
        go = self.gate_file('go')
        a = self.m.submit(gate(go) + '\n')
        b = self.m.submit(spec(prompt='true', depends=[a], priority=2, labels=['kept']))
        self.m.wait_state(a, 'running')
        self.m.kill9()
        self.m.remount()
        self.assertEqual(self.m.state(b), 'waiting')
        self.assertEqual(self.m.read('tasks/%d/depends' % b).split(), [str(a)])
        j = self.task_json(b)
        self.assertEqual((j['priority'], j['labels']), (2, ['kept']))
        time.sleep(0.5)
        self.assertEqual(self.m.state(b), 'waiting')
        open(go, 'w').close()
        self.assertDone(a)
        self.assertDone(b)

    def test_timeout_still_applies_after_kill_9(self):
        pidfile = self.gate_file('first.pid')
        tid = self.m.submit(spec(prompt='echo $$ >> %s; sleep 300' % pidfile, timeout=2))
        self.m.wait_state(tid, 'running')
        wait_for(lambda: os.path.exists(pidfile), 20, msg='first run')
        self.m.kill9()
        self.m.remount()
        self.assertEqual(self.m.wait_final(tid, 30), 'failed')
        self.assertEqual(self.m.status(tid).get('reason'), 'timeout: killed after 2 s')
        with open(pidfile) as f:
            pids = [int(x) for x in f.read().split()]
        for pid in pids:
            wait_for(lambda: not pid_alive(pid), 20, msg='engine %d to be gone' % pid)

    def test_kill_9_keeps_blocked_tasks_blocked(self):
        a = self.m.submit('exit 1\n')
        b = self.m.submit(spec(prompt='true', depends=[a]))
        self.assertEqual(self.m.wait_final(a), 'failed')
        self.m.wait_state(b, 'blocked', 20)
        self.m.kill9()
        self.m.remount()
        self.assertEqual(self.m.state(b), 'blocked')
        self.assertEqual(self.m.status(b).get('reason'), 'dependency %d failed' % a)


# ---- fan-out -----------------------------------------------------------------

def fanout_paths():
    """50 files at three depths under data/."""
    out = ['data/f%02d.txt' % i for i in range(10)]
    out += ['data/a/f%02d.txt' % i for i in range(10, 30)]
    out += ['data/a/b/f%02d.txt' % i for i in range(30, 50)]
    return out


class TestFanout(SchedTestCase):

    workers = 4

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        for rel in fanout_paths() + ['data/skip.md', 'data/a/skip.md']:
            os.makedirs(os.path.dirname(os.path.join(repo, rel)), exist_ok=True)
            with open(os.path.join(repo, rel), 'w') as f:
                f.write(rel + '\n')
        git(repo, 'add', '-A')
        git(repo, 'commit', '-q', '-m', 'fifty files')
        # each task owns its {file} and copies it to out/ beside it:
        # kept (test_paths.py has what outsidePaths = fail does)
        git(repo, 'config', 'parallelai.outsidePaths', 'keep')

    def fan_out(self):
        before = set(self.m.task_ids())
        self.m.write_new(spec(
            each='data/**/*.txt',
            prompt='mkdir -p out && cp {file} "out/$(basename {file})"',
            then={'prompt': 'ls out > seen.txt'}))
        return sorted(set(self.m.task_ids()) - before)

    def test_each_makes_one_task_per_file_and_a_reduce_after_all(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        ids = self.fan_out()
        self.assertEqual(len(ids), 51)
        maps, reduce_ = ids[:-1], ids[-1]
        prompts = sorted(self.m.read('tasks/%d/prompt' % t) for t in maps)
        want = sorted('mkdir -p out && cp %s "out/$(basename %s)"' % (p, p) for p in fanout_paths())
        self.assertEqual([p.rstrip('\n') for p in prompts], want)
        self.assertEqual(self.m.read('tasks/%d/prompt' % reduce_).rstrip('\n'), 'ls out > seen.txt')
        self.assertEqual(sorted(int(x) for x in self.m.read('tasks/%d/depends' % reduce_).split()), maps)
        self.assertEqual(self.m.state(reduce_), 'waiting')
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        for t in maps:
            self.assertDone(t, 120)
        self.assertDone(reduce_)
        ev = [(e['event'], e['task']) for e in self.m.events() if e.get('event') in ('finished', 'started')]
        start_reduce = ev.index(('started', reduce_))
        for t in maps:
            self.assertLess(ev.index(('finished', t)), start_reduce)

    def test_reduce_sees_every_mapped_branch_merged(self):
        ids = self.fan_out()
        for t in ids:
            self.assertDone(t, 120)
        seen = git(self.m.repo, 'show', 'pai/task-%d:seen.txt' % ids[-1]).split()
        self.assertEqual(sorted(seen), sorted(os.path.basename(p) for p in fanout_paths()))

    def test_each_without_then_makes_only_the_mapped_tasks(self):
        before = set(self.m.task_ids())
        self.m.write_new(spec(each='data/*.txt', prompt='test -e {file}'))
        ids = sorted(set(self.m.task_ids()) - before)
        self.assertEqual(len(ids), 10)
        for t in ids:
            self.assertDone(t)

    def test_failed_mapped_task_blocks_the_reduce(self):
        before = set(self.m.task_ids())
        self.m.write_new(spec(each='data/*.txt', prompt='test {file} != data/f03.txt',
                              then={'prompt': 'touch %s' % self.gate_file('reduced')}))
        ids = sorted(set(self.m.task_ids()) - before)
        self.assertEqual(len(ids), 11)
        failed = [t for t in ids[:-1] if self.m.wait_final(t) == 'failed']
        self.assertEqual(len(failed), 1)
        self.assertIn('data/f03.txt', self.m.read('tasks/%d/prompt' % failed[0]))
        self.m.wait_state(ids[-1], 'blocked', 20)
        self.assertEqual(self.m.status(ids[-1]).get('reason'), 'dependency %d failed' % failed[0])
        self.assertFalse(os.path.exists(self.gate_file('reduced')))

    def test_each_with_depends_waits_for_them(self):
        go = self.gate_file('go')
        a = self.m.submit(gate(go) + '\n')
        before = set(self.m.task_ids())
        self.m.write_new(spec(each='data/*.txt', prompt='true', depends=[a]))
        ids = sorted(set(self.m.task_ids()) - before)
        self.assertEqual(len(ids), 10)
        for t in ids:
            self.assertEqual(self.m.state(t), 'waiting')
            self.assertEqual(self.m.read('tasks/%d/depends' % t).split(), [str(a)])
        open(go, 'w').close()
        for t in ids:
            self.assertDone(t)

    def test_read_write_handle_reads_back_the_first_id_of_a_fan_out(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        self.m.submit('true\n')       # the fan-out's ids do not start at 1
        before = set(self.m.task_ids())
        fd = os.open(self.m.path('tasks/new'), os.O_RDWR)
        try:
            os.write(fd, spec(each='data/*.txt', prompt='test -e {file}',
                              then={'prompt': 'true'}).encode())
            got = os.pread(fd, 64, 0)
            again = os.pread(fd, 64, 0)
        finally:
            os.close(fd)
        made = sorted(set(self.m.task_ids()) - before)
        self.assertEqual(len(made), 11)
        self.assertEqual(got, b'%d\n' % made[0])
        # the id is read once, then end of file (whatever the offset)
        self.assertEqual(again, b'')
        # the first is a mapped task, the last the reduce
        self.assertIn('data/', self.m.read('tasks/%d/prompt' % made[0]))
        self.assertEqual(self.m.read('tasks/%d/depends' % made[-1]).split(),
                         [str(t) for t in made[:-1]])

    def test_each_matching_nothing_is_refused(self):
        self.assertRefused(spec(each='nowhere/**/*.zz', prompt='echo {file}'), 'nowhere/**/*.zz')

    def test_then_inside_then_is_refused(self):
        self.assertRefused(spec(each='data/*.txt', prompt='true',
                                then={'prompt': 'true', 'each': 'data/*.txt'}), 'each')


class TestFanoutLimit(TestFanout):

    workers = 2

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'parallelai.maxFanout', '10')

    def test_each_over_max_fanout_is_refused(self):
        self.assertRefused(spec(each='data/**/*.txt', prompt='echo {file}'), 'maxFanout')

    def test_each_at_max_fanout_is_accepted(self):
        before = set(self.m.task_ids())
        self.m.write_new(spec(each='data/*.txt', prompt='echo {file}'))
        self.assertEqual(len(set(self.m.task_ids()) - before), 10)

    # the inherited tests fan out over 50 files: not under this limit
    test_each_makes_one_task_per_file_and_a_reduce_after_all = None
    test_reduce_sees_every_mapped_branch_merged = None


# ---- base and branch ---------------------------------------------------------

class TestBaseAndBranch(SchedTestCase):

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'tag', 'v1')
        with open(os.path.join(repo, 'newest.txt'), 'w') as f:
            f.write('added in the newest commit\n')
        git(repo, 'add', 'newest.txt')
        git(repo, 'commit', '-q', '-m', 'newest')

    def test_base_head_tilde_one_starts_from_the_parent_commit(self):
        tid = self.m.submit(spec(prompt='test ! -e newest.txt && test -e notes.txt', base='HEAD~1'))
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('base'), git(self.m.repo, 'rev-parse', 'HEAD~1').strip())

    def test_base_tag_starts_from_the_tagged_commit(self):
        tid = self.m.submit(spec(prompt='test ! -e newest.txt', base='v1'))
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('base'), git(self.m.repo, 'rev-parse', 'v1^{commit}').strip())

    def test_default_base_is_head(self):
        tid = self.m.submit('test -e newest.txt\n')
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('base'), git(self.m.repo, 'rev-parse', 'HEAD').strip())

    def test_unknown_base_is_refused(self):
        self.assertRefused(spec(prompt='true', base='no-such-ref'), 'no-such-ref')

    def test_custom_branch_name_is_used(self):
        tid = self.m.submit(spec(prompt='echo x > x.txt', branch='feature/x'))
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('branch'), 'feature/x')
        self.assertIn('feature/x', git(self.m.repo, 'branch', '--list', 'feature/x'))
        self.assertEqual(git(self.m.repo, 'branch', '--list', 'pai/task-%d' % tid), '')
        self.assertEqual(git(self.m.repo, 'show', 'feature/x:x.txt'), 'x\n')

    def test_existing_branch_name_is_refused(self):
        self.assertRefused(spec(prompt='true', branch='main'), 'main')

    def test_branch_of_an_earlier_task_is_refused(self):
        tid = self.m.submit(spec(prompt='true', branch='mine'))
        self.assertDone(tid)
        self.assertRefused(spec(prompt='true', branch='mine'), 'mine')


if __name__ == '__main__':
    paitest.main()
