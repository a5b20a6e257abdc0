#!/usr/bin/python3
"""Budgets: a task's own limits (max_cost_usd, max_tokens, max_turns in
its spec) stop its engine as a cancel does and fail it with the reason;
the total's (parallelai.budgetUsd) and an engine's (engine.NAME.budgetUsd)
hold the queue once reached, until `budget` in ctl raises them. The
engine is the built-in agent (the anthropic preset) against the loopback
LLM server, its cost from a price table.
"""

import datetime
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, wait_for  # noqa: E402
from llm_server import LLMServer  # noqa: E402

KEY_ENV = 'PAI_TEST_BUDGET_KEY'
KEY = 'sk-pai-test-budget-never-written'

# $3 a million tokens in, $15 out: a turn of 100000 in and 10000 out
# costs 0.30 + 0.15 = 0.45 USD.
LOOP_TURN = {'text': 'again',
             'tool_calls': [{'name': 'write_file',
                             'input': {'path': 'n.txt', 'content': 'x\n'}}],
             'usage': {'input': 100000, 'output': 10000},
             'delay': 0.02}
# one turn that ends, for 1.50 USD
COSTLY_DONE = {'text': 'done', 'usage': {'input': 500000, 'output': 0}}
CHEAP_DONE = {'text': 'done', 'usage': {'input': 10, 'output': 1}}


def event_ms(ev):
    t = datetime.datetime.strptime(ev['time'], '%Y-%m-%dT%H:%M:%S.%fZ')
    return t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000


class BudgetTestCase(PaiTestCase):
    workers = 2

    def prepare_repo(self, repo):
        self.srv = LLMServer({'turns': [CHEAP_DONE]}).start()
        self.addCleanup(self.srv.stop)
        old = os.environ.get(KEY_ENV)
        os.environ[KEY_ENV] = KEY
        self.addCleanup(lambda: os.environ.pop(KEY_ENV) if old is None
                        else os.environ.__setitem__(KEY_ENV, old))
        git(repo, 'config', 'engine.anthropic.baseUrl', self.srv.url)
        git(repo, 'config', 'engine.anthropic.apiKeyEnv', KEY_ENV)
        git(repo, 'config', 'engine.anthropic.model', 'priced-model')
        git(repo, 'config', 'price.priced-model.input', '3')
        git(repo, 'config', 'price.priced-model.output', '15')

    def script(self, turns):
        self.srv.httpd.script = {'turns': turns}

    def run_task(self, **spec):
        spec.setdefault('prompt', 'write n.txt')
        spec.setdefault('engine', 'anthropic')
        return self.m.submit(json.dumps(spec))

    def failed_with(self, tid, pattern):
        state = self.m.wait_final(tid)
        st = self.m.status(tid)
        self.assertEqual(state, 'failed', st)
        self.assertRegex(st.get('reason', ''), pattern)
        return st


class TestTaskLimits(BudgetTestCase):

    def test_cost_limit_stops_the_engine(self):
        self.script([LOOP_TURN])
        tid = self.run_task(max_cost_usd=1)
        st = self.failed_with(tid, r'^budget: \d+\.\d\d USD spent, limit 1\.00$')
        spent = float(re.match(r'budget: ([\d.]+)', st['reason']).group(1))
        self.assertGreater(spent, 1.0)
        # stopped, not run to the agent's own turn limit (50)
        self.assertLess(len(self.srv.requests), 50)
        self.assertEqual(st.get('max_cost_usd'), '1.00')
        ev = self.m.events_of('budget_reached', tid)
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual(ev[0]['scope'], 'task')
        self.assertEqual(ev[0]['limit'], 1)
        self.assertGreater(ev[0]['spent'], 1)
        # what it spent is counted, and no retry spends again
        self.assertGreater(float(st['cost_usd']), 1.0)
        self.assertIn('budget: ', self.m.read('tasks/%d/log' % tid))
        self.assertEqual(self.m.events_of('retrying', tid), [])

    def test_token_limit_stops_the_engine(self):
        self.script([LOOP_TURN])
        tid = self.run_task(max_tokens=250000, retries=2)
        self.failed_with(tid, r'^budget: \d+ tokens used, limit 250000$')
        self.assertLess(len(self.srv.requests), 50)
        self.assertEqual(self.m.events_of('retrying', tid), [])

    def test_turn_limit_stops_the_engine(self):
        self.script([LOOP_TURN])
        tid = self.run_task(max_turns=2)
        self.failed_with(tid, r'^budget: \d+ turns taken, limit 2$')
        self.assertLess(len(self.srv.requests), 50)

    def test_a_task_within_its_limits_is_done(self):
        self.script([CHEAP_DONE])
        tid = self.run_task(max_cost_usd=1, max_tokens=1000, max_turns=3)
        self.assertDone(tid)
        self.assertEqual(self.m.events_of('budget_reached'), [])

    def test_bad_limits_are_refused(self):
        for field, value in (('max_cost_usd', 0), ('max_cost_usd', -1),
                             ('max_cost_usd', '1'), ('max_tokens', 0),
                             ('max_tokens', 1.5), ('max_turns', -2)):
            spec = json.dumps({'prompt': 'x', field: value})
            self.assertErrno(self.m.try_new(spec), paitest.errno.EINVAL)
        self.assertEqual(self.m.task_ids(), [])


class TestTotalBudget(BudgetTestCase):

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'parallelai.budgetUsd', '1')

    def test_reached_budget_holds_the_queue_until_raised(self):
        self.script([COSTLY_DONE])
        first = self.run_task()
        self.assertDone(first)
        ev = wait_for(lambda: self.m.events_of('budget_reached'), 30,
                      msg='budget_reached')
        self.assertEqual(ev[0]['scope'], 'total')
        self.assertEqual(ev[0]['limit'], 1)
        self.assertAlmostEqual(ev[0]['spent'], 1.5)
        st = self.m.kv('status')
        self.assertEqual(st.get('budget_usd'), '1.0000', st)
        self.assertEqual(st.get('budget_left_usd'), '0.0000', st)
        self.assertEqual(st.get('budget_reached'), 'yes', st)
        self.assertEqual(st.get('budget_window'), 'mount', st)
        metrics = self.m.read('metrics')
        self.assertIn('parallelai_budget_left_usd{engine=""} 0', metrics)

        # a new task of any engine waits
        self.script([CHEAP_DONE])
        second = self.run_task()
        third = self.run_task(engine='sh', prompt='true')
        for tid in (second, third):
            wait_for(lambda: self.m.status(tid).get('waiting_for'), 30,
                     msg='task %d to wait for the budget' % tid)
        time.sleep(0.5)
        self.assertEqual(self.m.state(second), 'queued')
        self.assertEqual(self.m.state(third), 'queued')
        self.assertEqual(len(self.srv.requests), 1)

        # raised: they run
        self.assertEqual(self.m.ctl('ctl', 'budget 5'), 0)
        self.assertDone(second)
        self.assertDone(third)
        st = self.m.kv('status')
        self.assertEqual(st.get('budget_usd'), '5.0000', st)
        self.assertNotIn('budget_reached', st)
        self.assertEqual(len(self.m.events_of('budget_reached')), 1)

    def test_bad_budgets_are_refused(self):
        for cmd in ('budget 0', 'budget -3', 'budget abc', 'budget',
                    'budget 1e999', 'budget nosuchengine 5',
                    'budget anthropic 0', 'budget anthropic 5 6'):
            self.assertErrno(self.m.ctl('ctl', cmd), paitest.errno.EINVAL)
        self.assertEqual(self.m.kv('status').get('budget_usd'), '1.0000')


class TestEngineBudget(BudgetTestCase):

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'engine.anthropic.budgetUsd', '1')

    def test_engine_budget_holds_its_tasks_only(self):
        self.script([COSTLY_DONE])
        first = self.run_task()
        self.assertDone(first)
        ev = wait_for(lambda: self.m.events_of('budget_reached'), 30,
                      msg='budget_reached')
        self.assertEqual((ev[0]['scope'], ev[0]['engine']),
                         ('engine', 'anthropic'))
        self.script([CHEAP_DONE])
        held = self.run_task()
        other = self.run_task(engine='sh', prompt='true')
        self.assertDone(other)
        wait_for(lambda: self.m.status(held).get('waiting_for'), 30,
                 msg='task %d to wait for the budget' % held)
        self.assertEqual(self.m.state(held), 'queued')
        st = self.m.kv('status')
        self.assertEqual(st.get('budget_usd_anthropic'), '1.0000', st)
        self.assertEqual(st.get('budget_left_usd_anthropic'), '0.0000', st)
        self.assertNotIn('budget_usd', st)
        self.assertEqual(self.m.ctl('ctl', 'budget anthropic 10'), 0)
        self.assertDone(held)


STAND_IN = """#!%s
import sys
sys.path.insert(0, %r)
import fake_cli
sys.exit(fake_cli.stand_in(%r, %r))
"""


def claude_message(n):
    """An assistant event of message n, as Claude Code prints one per
    content block (the usage repeated in each)."""
    return {'type': 'assistant',
            'message': {'id': 'msg_%d' % n, 'role': 'assistant',
                        'content': [{'type': 'text', 'text': 'step %d' % n}],
                        'usage': {'input_tokens': 1000, 'output_tokens': 100}}}


class TestClaudeStream(PaiTestCase):
    """The claude preset wrapped in `parallelai stream`: the running
    figures come from Claude Code's assistant events as they arrive."""
    autostart = False

    def setUp(self):
        super().setUp()
        bindir = os.path.join(self.tmp, 'bin')
        rec = os.path.join(self.tmp, 'rec')
        os.makedirs(bindir)
        os.makedirs(rec)
        lines = []
        for n in range(1, 41):
            lines += [claude_message(n), claude_message(n)]
        script = os.path.join(self.tmp, 'claude.json')
        with open(script, 'w') as f:
            json.dump({'lines': lines, 'delay': 0.02, 'sleep': 5}, f)
        prog = os.path.join(bindir, 'claude')
        with open(prog, 'w') as f:
            f.write(STAND_IN % (sys.executable, HERE, script, rec))
        os.chmod(prog, 0o755)
        env = dict(os.environ)
        env['PATH'] = bindir + ':' + env.get('PATH', '/usr/bin:/bin')
        # the stand-in records what it was given outside the worktree
        git(self.m.repo, 'config', 'engine.claude.bindRw', rec)
        self.m.start(env=env)

    def test_claude_stopped_at_its_token_limit(self):
        tid = self.m.submit(json.dumps({'prompt': 'go', 'engine': 'claude',
                                        'max_tokens': 5000}))
        state = self.m.wait_final(tid)
        st = self.m.status(tid)
        self.assertEqual(state, 'failed', st)
        m = re.match(r'^budget: (\d+) tokens used, limit 5000$', st.get('reason', ''))
        self.assertTrue(m, st)
        # a message counted once, however many events carry it
        self.assertEqual(int(m.group(1)) % 1100, 0)
        self.assertLessEqual(int(m.group(1)), 40 * 1100)


class TestBudgetWindow(BudgetTestCase):

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'parallelai.budgetUsd', '1')
        git(repo, 'config', 'parallelai.budgetWindow', '2s')

    def test_spend_leaves_the_window(self):
        self.script([COSTLY_DONE])
        first = self.run_task()
        self.assertDone(first)
        self.script([CHEAP_DONE])
        second = self.run_task()
        # held while the spend is in the window, then it runs by itself
        self.assertDone(second)
        spent_at = event_ms(self.m.events_of('usage', first)[0])
        started_at = event_ms(self.m.events_of('started', second)[0])
        # (the spend's row is written a moment before the usage event:
        # a second of slack still tells a wait from none)
        self.assertGreaterEqual(started_at, spent_at + 1000)
        self.assertEqual(self.m.kv('status').get('budget_window'), '2s')
        self.assertEqual(len(self.m.events_of('budget_reached')), 1)


if __name__ == '__main__':
    paitest.main()
