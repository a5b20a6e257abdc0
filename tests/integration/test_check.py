#!/usr/bin/python3
"""Check gates: a task's check command (`make test` of a real repository)
runs in its worktree after the engine exits 0; a failure with fix rounds
left runs the engine again with a prompt that carries the check's output,
out of rounds the task fails with the reason; status, task.json, events,
tasks/N/check and the log say what ran and how it ended."""

import errno
import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, pid_alive, wait_for  # noqa: E402
from llm_server import LLMServer  # noqa: E402

# A project whose tests really run: `make test` exits 2 when add is wrong.
PROJECT = {
    'Makefile': 'test:\n\tsh test.sh\n',
    'calc.sh': 'echo $(($1 + $2))\n',
    'test.sh': ('out=$(sh calc.sh 2 3)\n'
                'if [ "$out" = 5 ]; then echo "ok: add 2 3 = 5"; else\n'
                '  echo "FAIL: add 2 3 gave $out, wanted 5"; exit 1; fi\n'),
}
GOOD = 'echo $(($1 + $2))\n'
BAD = 'echo $(($1 - $2))\n'
BREAK = "printf 'echo $(($1 - $2))\\n' > calc.sh"
REPAIR = "printf 'echo $(($1 + $2))\\n' > calc.sh"
# The header of a fix round's prompt, at the start of a line.
FIX_HEADER = '^# parallelai: the check failed'


def spec(**fields):
    return json.dumps(fields) + '\n'


class CheckTestCase(PaiTestCase):

    def prepare_repo(self, repo):
        for rel, text in PROJECT.items():
            with open(os.path.join(repo, rel), 'w') as f:
                f.write(text)
        git(repo, 'add', '-A')
        git(repo, 'commit', '-q', '-m', 'a project with tests')
        git(repo, 'config', 'parallelai.killGrace', '200')
        os.makedirs(os.path.join(self.tmp, 'out'), exist_ok=True)
        git(repo, 'config', 'engine.sh.bindRw', os.path.join(self.tmp, 'out'))
        git(repo, 'config', 'parallelai.retryBase', '1')

    def log(self, tid):
        return self.m.read('tasks/%d/log' % tid)

    def task_json(self, tid):
        return json.loads(self.m.read('tasks/%d/task.json' % tid))

    def committed(self, tid, path):
        return git(self.m.repo, 'show', 'pai/task-%d:%s' % (tid, path))

    def outside(self, name):
        """A file outside the worktree that the tasks' sh engines may
        write: its directory is bound writable into their sandbox."""
        return os.path.join(self.tmp, 'out', name)

    def ends(self, tid, state):
        got = self.m.wait_final(tid, 90)
        self.assertEqual(got, state, 'task %d ended %s\nstatus:\n%s\nlog:\n%s'
                         % (tid, got, self.m.read('tasks/%d/status' % tid), self.log(tid)))

    def fixer(self):
        """An sh prompt that breaks add on its first run and repairs it
        when its prompt says the check failed (keeping that prompt)."""
        return ('if grep -q %r "$PAI_PROMPT_FILE"; then\n'
                '  cp "$PAI_PROMPT_FILE" %s\n  %s\nelse\n  %s\nfi\n'
                % (FIX_HEADER, self.outside('fix-prompt.txt'), REPAIR, BREAK))


class TestCheckGate(CheckTestCase):

    def test_passing_check_is_done_and_says_so(self):
        tid = self.m.submit(spec(prompt="echo '# more' >> README.md", check='make test'))
        self.assertDone(tid)
        st = self.m.status(tid)
        self.assertEqual(st['check_command'], 'make test')
        self.assertEqual(st['check'], 'passed, round 1 of 1')
        j = self.task_json(tid)
        self.assertEqual((j['check_command'], j['check'], j['check_exit'],
                          j['check_round'], j['check_rounds']),
                         ('make test', 'passed', 0, 1, 1))
        check = self.m.read('tasks/%d/check' % tid)
        self.assertEqual(check.split('\n', 1)[0], 'exit 0')
        self.assertIn('ok: add 2 3 = 5', check)
        log = self.log(tid)
        start = log.index('--- parallelai: check (make test) ---\n')
        self.assertLess(start, log.index('ok: add 2 3 = 5'))
        self.assertLess(log.index('ok: add 2 3 = 5'),
                        log.index('--- parallelai: check (make test) passed ---'))
        self.assertEqual([e['event'] for e in self.m.events()
                          if e.get('task') == tid and e['event'].startswith('check_')],
                         ['check_started', 'check_passed'])
        ev = self.m.events_of('check_passed', tid)[0]
        self.assertEqual((ev['command'], ev['exit'], ev['round']), ('make test', 0, 1))

    def test_mount_readme_tells_of_check_gates(self):
        text = self.m.read('README')
        for words in ('tasks/N/check', 'parallelai.check', 'fix_rounds',
                      'check: failed (exit 2), round 2 of 3'):
            self.assertIn(words, text)

    def test_task_without_check_is_as_before(self):
        tid = self.m.submit(BREAK + '\n')
        self.assertDone(tid)
        st = self.m.status(tid)
        self.assertNotIn('check', st)
        self.assertNotIn('check_command', st)
        self.assertNotIn('check', self.task_json(tid))
        self.assertNotIn('check', os.listdir(self.m.path('tasks/%d' % tid)))
        self.assertEqual([e for e in self.m.events() if e['event'].startswith('check_')], [])
        self.assertNotIn('--- parallelai: check', self.log(tid))

    def test_broken_tests_are_fixed_in_round_2(self):
        tid = self.m.submit(spec(prompt=self.fixer(), check='make test', fix_rounds=1))
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid)['check'], 'passed, round 2 of 2')
        self.assertEqual(self.committed(tid, 'calc.sh'), GOOD)
        self.assertEqual(self.m.status(tid)['attempts'], '1')
        # the second run's prompt: the check's command, status and output,
        # then the task's own prompt
        with open(self.outside('fix-prompt.txt')) as f:
            prompt = f.read()
        self.assertIn('`make test` exited 2', prompt)
        self.assertIn('FAIL: add 2 3 gave -1, wanted 5', prompt)
        self.assertTrue(prompt.endswith(self.fixer()), prompt)
        log = self.log(tid)
        first = log.index('--- parallelai: check (make test) ---')
        failed = log.index('--- parallelai: check (make test) exited 2 ---')
        round2 = log.index('--- parallelai: attempt 1, round 2 of 2: the check exited 2 ---')
        second = log.index('--- parallelai: check (make test) ---', round2)
        self.assertTrue(first < failed < round2 < second, log)
        self.assertIn('--- parallelai: check (make test) passed ---', log[second:])
        names = [(e['event'], e.get('round')) for e in self.m.events()
                 if e.get('task') == tid and e['event'].startswith('check_')]
        self.assertEqual(names, [('check_started', 1), ('check_failed', 1),
                                 ('check_started', 2), ('check_passed', 2)])
        self.assertEqual(self.m.events_of('check_failed', tid)[0]['exit'], 2)
        check = self.m.read('tasks/%d/check' % tid)
        self.assertEqual(check.split('\n', 1)[0], 'exit 0')

    def test_a_check_that_never_passes_fails_the_task_with_its_commit(self):
        tid = self.m.submit(spec(prompt=BREAK, check='make test', fix_rounds=1, retries=2))
        self.ends(tid, 'failed')
        st = self.m.status(tid)
        self.assertEqual(st['reason'], 'check failed: make test exited 2')
        self.assertEqual(st['check'], 'failed (exit 2), round 2 of 2')
        self.assertEqual(st['exit'], '0')
        # its fix rounds were its chances: no retry of the whole task
        self.assertEqual(st['attempts'], '1')
        self.assertEqual(self.m.events_of('retrying', tid), [])
        self.assertEqual(self.committed(tid, 'calc.sh'), BAD)
        self.assertIn('-echo $(($1 + $2))', self.m.read('tasks/%d/diff' % tid))
        check = self.m.read('tasks/%d/check' % tid)
        self.assertEqual(check.split('\n', 1)[0], 'exit 2')
        self.assertIn('FAIL: add 2 3 gave -1, wanted 5', check)
        self.assertEqual(len(self.m.events_of('check_failed', tid)), 2)
        fin = self.m.events_of('finished', tid)[-1]
        self.assertEqual((fin['state'], fin['reason']),
                         ('failed', 'check failed: make test exited 2'))

    def test_sh_has_no_fix_round_by_default(self):
        tid = self.m.submit(spec(prompt=BREAK, check='make test'))
        self.ends(tid, 'failed')
        self.assertEqual(self.m.status(tid)['check'], 'failed (exit 2), round 1 of 1')
        self.assertEqual(len(self.m.events_of('check_started', tid)), 1)

    def test_a_check_of_several_lines_shows_on_one(self):
        tid = self.m.submit(spec(prompt='true', check='true\nfalse'))
        self.ends(tid, 'failed')
        st = self.m.status(tid)
        self.assertIn('\\n', st['reason'])
        self.assertIn('\\n', st['check_command'])
        lines = self.log(tid).splitlines()
        self.assertEqual([ln for ln in lines if ln.startswith('false')], [], lines)
        self.assertEqual(json.loads(self.m.read('tasks/%d/task.json' % tid))['reason'],
                         'check failed: true\nfalse exited 1')

    def test_engine_failure_runs_no_check(self):
        tid = self.m.submit(spec(prompt='exit 3', check='make test'))
        self.ends(tid, 'failed')
        self.assertEqual(self.m.status(tid)['reason'], 'exit status 3')
        self.assertEqual(self.m.events_of('check_started', tid), [])

    def test_cancel_during_the_check_ends_it(self):
        started, pidf = self.outside('started'), self.outside('check.pid')
        check = 'sleep 300 & echo $! > %s; touch %s; wait' % (pidf, started)
        tid = self.m.submit(spec(prompt='echo x > x.txt', check=check))
        wait_for(lambda: os.path.exists(started), 30, msg='the check to start')
        st = self.m.status(tid)
        self.assertEqual(st['check'], 'running, round 1 of 1')
        # the engine has ended: no pid of it is shown
        self.assertNotIn('pid', st)
        w = self.m.worker_of(tid)
        self.assertNotIn('pid', self.m.kv('workers/%d/status' % w))
        with open(pidf) as f:
            pid = int(f.read())
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.ends(tid, 'cancelled')
        self.assertFalse(pid_alive(pid))
        self.assertEqual(self.committed(tid, 'x.txt'), 'x\n')


class TestCheckCrash(CheckTestCase):

    def test_kill_9_during_the_check_runs_the_task_again(self):
        started, go = self.outside('started'), self.outside('go')
        check = ('echo run >> %s; while [ ! -e %s ]; do sleep 0.05; done; make test'
                 % (started, go))
        tid = self.m.submit(spec(prompt='echo x > x.txt', check=check))
        wait_for(lambda: os.path.exists(started), 30, msg='the check to start')
        self.m.kill9()
        self.m.remount()
        # never done on the engine's word alone: it runs again, checked
        def runs():
            with open(started) as f:
                return f.read().count('run')
        wait_for(lambda: runs() == 2, 30, msg='the check to run again')
        self.assertEqual(self.m.state(tid), 'running')
        self.assertEqual(self.m.status(tid)['attempts'], '2')
        open(go, 'w').close()
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid)['check'], 'passed, round 1 of 1')
        self.assertEqual(self.m.events_of('requeued', tid)[0]['reason'], 'daemon restarted')


    def test_engine_ending_while_its_daemon_is_dead_is_checked(self):
        """The engine exits 0 while its keeper lingers after kill -9 of
        the daemon: with a check, the next mount does not finish it on
        that word (as it does a task without one) but runs it again."""
        runs, fifo = self.outside('runs'), self.outside('go')
        os.mkfifo(fifo)
        prompt = ('echo run >> %s; echo work > work.txt;'
                  ' [ $(wc -l < %s) -ge 2 ] || read x < %s' % (runs, runs, fifo))
        tid = self.m.submit(spec(prompt=prompt, check='make test'))
        wait_for(lambda: os.path.exists(runs), 30, msg='the engine to start')
        self.m.kill9()
        with open(fifo, 'w') as f:
            f.write('go\n')
        self.m.remount()
        self.assertDone(tid)
        with open(runs) as f:
            self.assertEqual(f.read(), 'run\n' * 2)
        self.assertEqual(self.m.events_of('recovered', tid), [])
        self.assertEqual(len(self.m.events_of('check_passed', tid)), 1)

    def test_unmount_during_the_check_runs_the_task_again(self):
        started, go = self.outside('started'), self.outside('go')
        check = ('echo run >> %s; while [ ! -e %s ]; do sleep 0.05; done; make test'
                 % (started, go))
        tid = self.m.submit(spec(prompt='echo x > x.txt', check=check))
        wait_for(lambda: os.path.exists(started), 30, msg='the check to start')
        self.m.unmount()
        self.m.remount()
        open(go, 'w').close()
        self.assertDone(tid)
        with open(started) as f:
            self.assertEqual(f.read(), 'run\n' * 2)
        self.assertEqual(self.m.events_of('requeued', tid)[0]['reason'], 'stopped by unmount')
        self.assertEqual(len(self.m.events_of('check_passed', tid)), 1)


class TestCheckConfig(CheckTestCase):

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'parallelai.check', 'make test')
        git(repo, 'config', 'parallelai.fixRounds', '1')

    def test_config_gives_the_default_check_and_rounds(self):
        tid = self.m.submit(self.fixer())
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid)['check'], 'passed, round 2 of 2')

    def test_an_empty_check_in_the_spec_has_none(self):
        tid = self.m.submit(spec(prompt=BREAK, check=''))
        self.assertDone(tid)
        self.assertNotIn('check', self.m.status(tid))


class TestCheckTimeout(CheckTestCase):

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'parallelai.checkTimeout', '1')

    def test_a_check_past_its_timeout_is_killed_and_fails(self):
        pidf = self.outside('check.pid')
        check = 'sleep 300 & echo $! > %s; wait' % pidf
        tid = self.m.submit(spec(prompt='true', check=check))
        self.ends(tid, 'failed')
        st = self.m.status(tid)
        self.assertEqual(st['reason'], 'check failed: %s timed out after 1 s' % check)
        self.assertTrue(st['check'].startswith('timed out (exit '), st['check'])
        with open(pidf) as f:
            self.assertFalse(pid_alive(int(f.read())))
        self.assertTrue(self.m.events_of('check_failed', tid)[0]['timeout'])
        first = self.m.read('tasks/%d/check' % tid).split('\n', 1)[0]
        self.assertRegex(first, r'^exit \d+ \(timed out after 1 s\)$')


class TestCheckBadInput(CheckTestCase):

    def test_check_must_be_a_string(self):
        for bad in (123, ['make', 'test'], None, {'cmd': 'make'}, True):
            self.assertRefused(spec(prompt='true', check=bad), "'check' must be a string")

    def test_fix_rounds_must_be_in_range(self):
        for bad in (-1, 101, 1.5, '2', None):
            self.assertRefused(spec(prompt='true', check='make test', fix_rounds=bad),
                               "'fix_rounds' must be an integer from 0 to 100")

    def test_edges_are_taken(self):
        for n in (0, 100):
            tid = self.m.submit(spec(prompt='true', check='make test', fix_rounds=n))
            self.assertDone(tid)
            self.assertEqual(self.task_json(tid)['check_rounds'], n + 1)


class TestAgentFixRound(CheckTestCase):
    """The built-in agent (the anthropic preset, two fix rounds by
    default) breaks the tests, and sees the check's output in the request
    that starts its second run."""

    KEY_ENV = 'PAI_TEST_AGENT_KEY'

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        self.srv = LLMServer({'turns': [{'text': 'nothing scripted'}]}).start()
        self.addCleanup(self.srv.stop)
        old = os.environ.get(self.KEY_ENV)
        os.environ[self.KEY_ENV] = 'sk-pai-test-check'
        self.addCleanup(lambda: os.environ.pop(self.KEY_ENV) if old is None
                        else os.environ.__setitem__(self.KEY_ENV, old))
        git(repo, 'config', 'engine.anthropic.baseUrl', self.srv.url)
        git(repo, 'config', 'engine.anthropic.apiKeyEnv', self.KEY_ENV)
        git(repo, 'config', 'parallelai.check', 'make test')
        git(repo, 'config', 'parallelai.breakerFailures', '1')

    def write(self, text):
        return {'text': 'Writing calc.sh.',
                'tool_calls': [{'name': 'write_file',
                                'input': {'path': 'calc.sh', 'content': text}}]}

    def test_agent_sees_the_check_output_and_fixes_it(self):
        self.srv.httpd.script = {'turns': [
            self.write(BAD), {'text': 'Done.'},
            self.write(GOOD), {'text': 'Fixed.'}]}
        tid = self.m.submit(spec(prompt='make add subtract', engine='anthropic'))
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid)['check'], 'passed, round 2 of 3')
        self.assertEqual(self.committed(tid, 'calc.sh'), GOOD)
        reqs = self.srv.requests
        self.assertEqual(len(reqs), 4)
        first = json.dumps(reqs[0]['body']['messages'])
        self.assertNotIn('check failed', first)
        second_run = json.dumps(reqs[2]['body']['messages'])
        self.assertIn('`make test` exited 2', second_run)
        self.assertIn('FAIL: add 2 3 gave -1, wanted 5', second_run)
        self.assertIn('make add subtract', second_run)

    def test_a_failed_check_does_not_open_the_breaker(self):
        self.srv.httpd.script = {'turns': [{'text': 'Nothing to change.'}]}
        tid = self.m.submit(spec(prompt='look', engine='anthropic', check='false',
                                 fix_rounds=0))
        self.ends(tid, 'failed')
        self.assertEqual(self.m.status(tid)['reason'], 'check failed: false exited 1')
        self.assertEqual(self.m.events_of('breaker_open'), [])
        self.assertDone(self.m.submit(spec(prompt='look again', engine='anthropic')))


if __name__ == '__main__':
    paitest.main()
