#!/usr/bin/python3
"""The built-in agent (`parallelai agent`) as an engine of a real mount,
talking to the loopback LLM server (tests/llm_server.py) in both wire
formats: its log streams the model's text and one line per tool call, the
files it writes are committed, tool results go back to the model, and API
errors, path escapes and the turn limit end as they should.
"""

import datetime
import json
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, wait_for  # noqa: E402
from llm_server import LLMServer  # noqa: E402

KEY_ENV = 'PAI_TEST_AGENT_KEY'
KEY = 'sk-pai-test-0123456789-never-written'

WRITE_THEN_DONE = [
    {'text': "I'll write hello.txt now.",
     'tool_calls': [{'name': 'write_file',
                     'input': {'path': 'hello.txt', 'content': 'hi from the agent\n'}}]},
    {'text': 'Done: hello.txt holds a greeting.'},
]


class AgentTestCase(PaiTestCase):
    workers = 2

    def prepare_repo(self, repo):
        self.srv = LLMServer({'turns': [{'text': 'nothing scripted'}]}).start()
        self.addCleanup(self.srv.stop)
        old = os.environ.get(KEY_ENV)
        os.environ[KEY_ENV] = KEY
        self.addCleanup(lambda: os.environ.pop(KEY_ENV) if old is None
                        else os.environ.__setitem__(KEY_ENV, old))
        base = ('%s agent --base-url %s --model test-model --api-key-env %s '
                '--max-retries 0 --prompt-file {prompt_file} --worktree {worktree}'
                % (paitest.PAI_BIN, self.srv.url, KEY_ENV))
        git(repo, 'config', 'engine.agent-a.command', base + ' --protocol anthropic')
        git(repo, 'config', 'engine.agent-o.command', base + ' --protocol openai')
        git(repo, 'config', 'engine.agent-3.command',
            base + ' --protocol anthropic --max-turns 3')
        git(repo, 'config', 'engine.agent-r.command',
            base + ' --protocol openai --max-retries 2')
        # the presets, pointed at the same server
        for proto in ('anthropic', 'openai'):
            git(repo, 'config', 'engine.%s.baseUrl' % proto, self.srv.url)
            git(repo, 'config', 'engine.%s.apiKeyEnv' % proto, KEY_ENV)

    # ---- helpers -----------------------------------------------------------
    def script(self, turns, **top):
        top['turns'] = turns
        self.srv.httpd.script = top

    def run_task(self, engine, prompt='write hello.txt'):
        return self.m.submit(json.dumps({'prompt': prompt, 'engine': engine}))

    def log(self, tid):
        return self.m.read('tasks/%d/log' % tid)

    def assertFailed(self, tid, timeout=60.0):
        state = self.m.wait_final(tid, timeout)
        self.assertEqual(state, 'failed', 'task %d ended %s\nlog:\n%s'
                         % (tid, state, self.log(tid)))

    def committed(self, tid, path):
        return git(self.m.repo, 'show', 'pai/task-%d:%s' % (tid, path))

    def tool_results(self, req):
        """The tool results a request carries, in either format, as
        (id, content, is_error)."""
        out = []
        for msg in req['body']['messages']:
            if msg.get('role') == 'tool':
                content = msg['content']
                out.append((msg['tool_call_id'], content, content.startswith('error: ')))
            elif msg.get('role') == 'user' and isinstance(msg.get('content'), list):
                for block in msg['content']:
                    if block.get('type') == 'tool_result':
                        out.append((block['tool_use_id'], block['content'],
                                    bool(block.get('is_error'))))
        return out


class TestAgentProtocols(AgentTestCase):

    def check_write_then_done(self, engine, proto_path, result_id):
        self.script(WRITE_THEN_DONE)
        tid = self.run_task(engine)
        self.assertDone(tid)
        log = self.log(tid)
        self.assertIn("I'll write hello.txt now.", log)
        self.assertIn('» write_file hello.txt\n', log)
        self.assertIn('Done: hello.txt holds a greeting.', log)
        self.assertIn('A\thello.txt', self.m.read('tasks/%d/files' % tid).splitlines())
        self.assertEqual(self.committed(tid, 'hello.txt'), 'hi from the agent\n')
        self.assertIn('+hi from the agent', self.m.read('tasks/%d/diff' % tid))
        reqs = self.srv.requests
        self.assertEqual(len(reqs), 2)
        self.assertTrue(all(r['path'] == proto_path for r in reqs))
        self.assertEqual(reqs[0]['body']['model'], 'test-model')
        self.assertTrue(reqs[0]['body']['stream'])
        self.assertIn('write hello.txt', json.dumps(reqs[0]['body']['messages']))
        names = sorted(t.get('name') or t['function']['name'] for t in reqs[0]['body']['tools'])
        self.assertEqual(names, ['edit_file', 'list_files', 'read_file', 'run',
                                 'search', 'write_file'])
        self.assertEqual(self.tool_results(reqs[1]),
                         [(result_id, 'wrote 18 bytes to hello.txt', False)])
        return reqs

    def test_anthropic_agent_writes_a_file_that_is_committed(self):
        reqs = self.check_write_then_done('agent-a', '/v1/messages', 'toolu_00_0')
        self.assertEqual(reqs[0]['headers'].get('x-api-key'), KEY)
        self.assertEqual(reqs[0]['headers'].get('anthropic-version'), '2023-06-01')
        self.assertIn('system', reqs[0]['body'])

    def test_openai_agent_writes_a_file_that_is_committed(self):
        reqs = self.check_write_then_done('agent-o', '/v1/chat/completions', 'call_00_0')
        self.assertEqual(reqs[0]['headers'].get('authorization'), 'Bearer ' + KEY)
        self.assertEqual(reqs[0]['body']['stream_options'], {'include_usage': True})
        self.assertEqual(reqs[0]['body']['messages'][0]['role'], 'system')

    def test_presets_keep_result_tokens_and_turns(self):
        for engine in ('anthropic', 'openai'):
            self.script([dict(WRITE_THEN_DONE[0], usage={'input': 120, 'output': 30}),
                         dict(WRITE_THEN_DONE[1], usage={'input': 150, 'output': 12})])
            self.srv.httpd.requests.clear()
            tid = self.run_task(engine)
            self.assertDone(tid)
            self.assertEqual(self.m.read('tasks/%d/result' % tid).strip(),
                             'Done: hello.txt holds a greeting.')
            st = self.m.status(tid)
            self.assertEqual(st.get('input_tokens'), '270', st)
            self.assertEqual(st.get('output_tokens'), '42', st)
            self.assertEqual(st.get('turns'), '2', st)
            self.assertEqual(st.get('tool_calls'), '1', st)
            self.assertEqual(self.committed(tid, 'hello.txt'), 'hi from the agent\n')
            self.assertEqual(len(self.srv.requests), 2)

    def test_tail_f_shows_text_as_it_streams(self):
        text = 'Thinking aloud, one small piece at a time, ' * 4
        self.script([{'text': text, 'chunk': 4, 'delay': 0.04}])
        tid = self.run_task('agent-a')
        # a part of the text, while the task still runs
        partial = wait_for(lambda: (self.m.state(tid) == 'running' and
                                    'Thinking aloud' in self.log(tid) and
                                    text.strip() not in self.log(tid)),
                           30, msg='part of the text in the log of a running task')
        self.assertTrue(partial)
        self.assertDone(tid)
        self.assertIn(text.strip(), self.log(tid))

    def test_run_tool_output_and_exit_status_reach_the_model(self):
        self.script([
            {'text': 'Running the build.',
             'tool_calls': [{'name': 'run', 'input': {
                 'command': 'echo built > out.txt; echo to-model; exit 3'}}]},
            {'text': 'The build failed with status 3.'},
        ])
        tid = self.run_task('agent-o')
        self.assertDone(tid)
        self.assertIn('» run echo built > out.txt; echo to-model; exit 3', self.log(tid))
        self.assertIn('! run: exit status 3', self.log(tid))
        self.assertEqual(self.committed(tid, 'out.txt'), 'built\n')
        (_, content, _), = self.tool_results(self.srv.requests[1])
        self.assertIn('to-model', content)
        self.assertIn('[exit status 3]', content)

    def test_edit_file_ambiguous_is_a_tool_error_then_succeeds(self):
        self.script([
            {'tool_calls': [{'name': 'edit_file', 'input': {
                'path': 'notes.txt', 'old_string': 'o', 'new_string': '0'}}]},
            {'tool_calls': [{'name': 'edit_file', 'input': {
                'path': 'notes.txt', 'old_string': 'two\n', 'new_string': 'TWO\n'}}]},
            {'text': 'Edited.'},
        ])
        tid = self.run_task('agent-a')
        self.assertDone(tid)
        self.assertIn('! edit_file: string is not unique in notes.txt', self.log(tid))
        self.assertEqual(self.committed(tid, 'notes.txt'), 'one\nTWO\nthree\n')
        (_, content, err), = self.tool_results(self.srv.requests[1])
        self.assertTrue(err)
        self.assertIn('not unique', content)


class TestAgentFailures(AgentTestCase):

    def test_401_fails_the_task_with_the_api_message(self):
        for engine in ('agent-a', 'agent-o'):
            self.script([{'error': {'status': 401, 'message': 'invalid x-api-key',
                                    'type': 'authentication_error'}}])
            tid = self.run_task(engine)
            self.assertFailed(tid)
            log = self.log(tid)
            self.assertIn('HTTP 401', log)
            self.assertIn('invalid x-api-key', log)
            self.assertNotIn(KEY, log)

    def test_429_is_retried_after_retry_after(self):
        self.script([{'error': {'status': 429, 'message': 'rate limited', 'retry_after': 1}},
                     {'error': {'status': 503, 'message': 'overloaded', 'retry_after': 0}},
                     {'text': 'Made it.'}])
        t0 = time.monotonic()
        tid = self.run_task('agent-r')
        self.assertDone(tid)
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        log = self.log(tid)
        self.assertIn('! HTTP 429: rate limited', log)
        self.assertIn('retrying in 1.0 s (1 of 2)', log)
        self.assertIn('! HTTP 503: overloaded', log)
        self.assertIn('Made it.', log)
        self.assertEqual(len(self.srv.requests), 3)

    def test_500_after_the_last_retry_fails_the_task(self):
        self.script([{'error': {'status': 500, 'message': 'internal boom', 'retry_after': 0}}])
        tid = self.run_task('agent-r')
        self.assertFailed(tid)
        self.assertIn('error: HTTP 500: internal boom', self.log(tid))
        self.assertEqual(len(self.srv.requests), 3)

    def test_preset_401_reason_is_in_status(self):
        self.script([{'error': {'status': 401, 'message': 'invalid x-api-key',
                                'type': 'authentication_error'}}])
        tid = self.run_task('anthropic')
        self.assertFailed(tid)
        self.assertIn('invalid x-api-key', self.m.read('tasks/%d/status' % tid))

    def test_path_escape_is_refused_as_a_tool_error(self):
        self.script([
            {'text': 'Trying to get out.',
             'tool_calls': [
                 {'name': 'write_file', 'input': {'path': '../escaped.txt', 'content': 'x'}},
                 {'name': 'read_file', 'input': {'path': '/etc/passwd'}}]},
            {'text': 'I could not leave the worktree.'},
        ])
        tid = self.run_task('agent-a')
        self.assertDone(tid)
        log = self.log(tid)
        self.assertIn("! write_file: path '../escaped.txt' is outside the worktree", log)
        self.assertIn("! read_file: path '/etc/passwd' is outside the worktree", log)
        results = self.tool_results(self.srv.requests[1])
        self.assertEqual(len(results), 2)
        for _, content, err in results:
            self.assertTrue(err)
            self.assertIn('outside the worktree', content)
        self.assertNotIn('root:', json.dumps(self.srv.requests[1]['body']))
        wt = os.path.realpath(self.m.path('tasks/%d/worktree' % tid))
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(wt), 'escaped.txt')))
        self.assertEqual(self.m.read('tasks/%d/files' % tid).strip(), '')

    def test_max_turns_stops_the_agent(self):
        self.script([{'text': 'Looking again.',
                      'tool_calls': [{'name': 'list_files', 'input': {}}]}])
        tid = self.run_task('agent-3')
        self.assertFailed(tid)
        self.assertIn('max turns (3)', self.log(tid))
        self.assertEqual(self.log(tid).count('» list_files .'), 3)
        self.assertEqual(len(self.srv.requests), 3)

    def test_malformed_stream_fails_the_task(self):
        for engine in ('agent-a', 'agent-o'):
            self.script([{'text': 'Hello', 'malformed': True}])
            tid = self.run_task(engine)
            self.assertFailed(tid)
            self.assertIn('malformed event from server', self.log(tid))

    def test_connection_refused_fails_the_task(self):
        self.srv.stop()
        tid = self.run_task('agent-o')
        self.assertFailed(tid)
        self.assertIn('cannot reach', self.log(tid))
        self.assertIn("Couldn't connect", self.log(tid))

    def test_api_key_is_never_written(self):
        self.script(WRITE_THEN_DONE, require_key=KEY)
        tid = self.run_task('anthropic')
        self.assertDone(tid)
        self.script([{'error': {'status': 500, 'message': 'boom'}}])
        bad = self.run_task('openai')
        self.m.wait_final(bad, 90)
        seen = []
        roots = [os.path.join(self.m.repo, '.git'), self.m.path('tasks')]
        for root in roots:
            for d, _, files in os.walk(root):
                for name in files:
                    p = os.path.join(d, name)
                    try:
                        with open(p, 'rb') as f:
                            data = f.read()
                    except OSError:
                        continue
                    seen.append(p)
                    self.assertNotIn(KEY.encode(), data, p)
        self.assertTrue(any(p.endswith('/log') for p in seen))
        self.assertTrue(any(p.endswith('.jsonl') for p in seen), seen)


class TestRunToolNeverSeesTheKey(AgentTestCase):
    """The preset's agent runs `env` through its run tool: the key's
    variable is not in the environment the command sees, so neither the
    model (the tool result the server receives), the log, nor the daemon's
    own diagnostics ever hold the key."""

    def run_env(self, engine):
        self.script([{'text': 'Looking at the environment.',
                      'tool_calls': [{'name': 'run', 'input': {'command': 'env'}}]},
                     {'text': 'Seen it.'}], require_key=KEY)
        tid = self.run_task(engine, 'show me the environment')
        self.assertDone(tid)
        # the key was in use: the server refuses requests without it
        reqs = self.srv.requests
        self.assertEqual(len(reqs), 2)
        (_, content, err), = self.tool_results(reqs[1])
        self.assertFalse(err, content)
        # env did run: the task's own variables are there
        self.assertIn('PAI_TASK_ID=%d\n' % tid, content)
        # (assertNotIn would print the whole environment, key and all)
        self.assertFalse(KEY in content, 'the key reached the model')
        self.assertFalse(KEY_ENV + '=' in content, 'the variable reached the model')
        self.assertFalse(KEY in json.dumps(reqs[1]['body']), 'the key reached the model')
        log = self.log(tid)
        self.assertIn('» run env\n', log)
        self.assertNotIn(KEY, log)
        self.assertNotIn(KEY, self.m.read('tasks/%d/log.jsonl' % tid))
        return tid

    def test_run_tool_env_has_no_key(self):
        for engine in ('anthropic', 'openai'):
            self.srv.httpd.requests.clear()
            self.run_env(engine)
        self.m.unmount()
        self.assertNotIn(KEY, self.m.stderr_text())

    def test_detached_daemon_log_has_no_key(self):
        # the mount as people start it: detached, diagnostics in daemon.log
        self.m.unmount()
        argv = [paitest.PAI_BIN, '-o', ','.join(self.m.opts), self.m.repo, self.m.mnt]
        self.m.start(argv=argv)
        self.assertEqual(self.m.proc.wait(30), 0)
        pids = paitest.daemon_pids(self.m.mnt)
        self.assertTrue(pids)
        self.run_env('anthropic')
        # a refused write puts a line into daemon.log: it is being written
        self.assertErrno(self.m.ctl('ctl', 'no-such-command\n'), paitest.errno.EINVAL)
        self.assertEqual(paitest.run(['fusermount3', '-u', self.m.mnt]).returncode, 0)
        wait_for(lambda: not any(paitest.pid_alive(p) for p in pids), 30,
                 msg='the detached daemon to exit')
        with open(os.path.join(self.m.repo, '.git', 'parallelai', 'daemon.log')) as f:
            text = f.read()
        self.assertIn('refused', text)
        self.assertNotIn(KEY, text)
        self.assertNotIn(KEY, self.m.stderr_text())


class TestMaxTokens(AgentTestCase):
    """A response cut at maxTokens fails the task, in both protocols."""

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        for proto in ('anthropic', 'openai'):
            git(repo, 'config', 'engine.%s.maxTokens' % proto, '77')

    def test_a_response_cut_at_max_tokens_fails_the_task(self):
        for engine, field in (('anthropic', 'max_tokens'), ('openai', 'max_tokens')):
            self.srv.httpd.requests.clear()
            self.script([{'text': 'The first half of an answer', 'stop': 'max_tokens'}])
            tid = self.run_task(engine)
            self.assertFailed(tid)
            why = 'the response was cut off at --max-tokens 77'
            self.assertIn(why, self.log(tid))
            self.assertIn(why, self.m.status(tid).get('reason', ''))
            self.assertIn('The first half of an answer', self.log(tid))
            req, = self.srv.requests
            self.assertEqual(req['body'][field], 77)


class TestProviderBreaker(AgentTestCase):
    """K failures in a row of one provider stop its new tasks for a
    cool-down; they wait queued, other engines keep running."""
    workers = 1

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'parallelai.breakerFailures', '2')
        git(repo, 'config', 'parallelai.breakerCooldown', '3600')

    def test_breaker_opens_and_queued_tasks_wait(self):
        self.script([{'error': {'status': 401, 'message': 'invalid x-api-key',
                                'type': 'authentication_error'}}])
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        ids = [self.run_task('anthropic') for _ in range(4)]
        other = self.m.submit('echo still running\n')
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        self.assertFailed(ids[0])
        self.assertFailed(ids[1])
        # the shell task goes ahead of the waiting provider's tasks
        self.assertDone(other)
        self.assertEqual(self.m.state(ids[2]), 'queued')
        self.assertEqual(self.m.state(ids[3]), 'queued')
        st = self.m.kv('status')
        self.assertIn('breaker_anthropic', st, st)
        self.assertIn('after 2 failures', st['breaker_anthropic'])
        opened = self.m.events_of('breaker_open')
        self.assertEqual([e.get('engine') for e in opened], ['anthropic'])
        self.assertEqual(len(self.srv.requests), 2)


    def test_a_new_mount_starts_with_the_breaker_closed(self):
        self.script([{'error': {'status': 401, 'message': 'invalid x-api-key',
                                'type': 'authentication_error'}}])
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        ids = [self.run_task('anthropic') for _ in range(3)]
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        self.assertFailed(ids[0])
        self.assertFailed(ids[1])
        wait_for(lambda: 'breaker_anthropic' in self.m.kv('status'), 30,
                 msg='the breaker to open')
        self.assertEqual(self.m.state(ids[2]), 'queued')
        # breakers live in memory: the next mount has none open
        self.script(WRITE_THEN_DONE)
        self.m.unmount()
        self.m.remount()
        self.assertNotIn('breaker_anthropic', self.m.kv('status'))
        self.assertIn('parallelai_engine_breaker_open{engine="anthropic"} 0\n',
                      self.m.read('metrics'))
        self.assertDone(ids[2])
        self.assertEqual(len(self.m.events_of('breaker_open')), 1)


# Events are stamped a moment after what they tell of happened.
SLACK_MS = 500


class TestBreakerAfterCooldown(AgentTestCase):
    """After its cool-down the breaker lets one task through; the first
    failure opens it again at once, for a full cool-down."""
    workers = 1

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'parallelai.breakerFailures', '3')
        git(repo, 'config', 'parallelai.breakerCooldown', '2')

    def event_ms(self, e):
        t = datetime.datetime.strptime(e['time'], '%Y-%m-%dT%H:%M:%S.%fZ')
        return t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000

    def test_the_first_failure_after_the_cooldown_opens_it_again(self):
        self.script([{'error': {'status': 401, 'message': 'invalid x-api-key',
                                'type': 'authentication_error'}}])
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        ids = [self.run_task('anthropic') for _ in range(5)]
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        for t in ids[:4]:
            self.assertFailed(t)
        # three failures opened it; the fourth, after the cool-down, alone
        # opened it again (breakerFailures would want three more)
        wait_for(lambda: len(self.m.events_of('breaker_open')) == 2, 30,
                 msg='the breaker to open again')
        first, second = self.m.events_of('breaker_open')
        started = {e['task']: self.event_ms(e) for e in self.m.events_of('started')}
        finished = {e['task']: self.event_ms(e) for e in self.m.events_of('finished')}
        # the fourth started once the first cool-down was over (give or
        # take the moment between opening and stamping the event), and
        # its failure is what opened the breaker again
        self.assertGreaterEqual(started[ids[3]], self.event_ms(first) + 2000 - SLACK_MS)
        self.assertGreaterEqual(self.event_ms(second), finished[ids[3]] - SLACK_MS)
        self.assertFailed(ids[4])
        # the fifth waited out a full cool-down from the second opening
        fifth, = self.m.events_of('started', ids[4])
        self.assertGreaterEqual(self.event_ms(fifth), self.event_ms(second) + 2000 - SLACK_MS)
        self.assertEqual(len(self.srv.requests), 5)


class TestPriceTable(AgentTestCase):

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'engine.anthropic.model', 'priced-model')
        git(repo, 'config', 'price.priced-model.input', '3')
        git(repo, 'config', 'price.priced-model.output', '15')

    def test_cost_comes_from_the_price_table(self):
        self.script([{'text': 'done', 'usage': {'input': 1000000, 'output': 200000}}])
        tid = self.run_task('anthropic')
        self.assertDone(tid)
        st = self.m.status(tid)
        self.assertEqual(st.get('cost_usd'), '6.0000', st)
        self.assertEqual(st.get('model'), None)   # the engine's, not the task's
        self.assertEqual(self.m.kv('status').get('cost_usd'), '6.0000')
        body = self.srv.requests[0]['body']
        self.assertEqual(body['model'], 'priced-model')


if __name__ == '__main__':
    paitest.main()
