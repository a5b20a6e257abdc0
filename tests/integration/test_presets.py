#!/usr/bin/python3
"""Agent CLIs through `parallelai stream`: the log reads as a transcript, the
raw stream and the result file are kept, and stream errors, permission
denials and a missing program fail the task.

The CLIs are stand-ins (fake_cli.py) that print event streams shaped like
the real ones, recorded here; parallelai's own code runs for real. The real
Claude Code and Codex run in test_real_clis.py.
"""

import json
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import paitest  # noqa: E402
from paitest import PaiTestCase, git, wait_for  # noqa: E402

FAKE_CLI = os.path.join(HERE, 'fake_cli.py')

# ---- recorded streams -------------------------------------------------------

CLAUDE_OK = {
    'write': {'hello.txt': 'hi\n'},
    'lines': [
        {'type': 'system', 'subtype': 'init', 'cwd': '.', 'session_id': 's1',
         'tools': ['Bash', 'Read', 'Write'], 'model': 'claude-sonnet-4-5',
         'permissionMode': 'acceptEdits'},
        {'type': 'assistant', 'message': {'id': 'msg_1', 'role': 'assistant', 'content': [
            {'type': 'text', 'text': "I'll write hello.txt for: {prompt}"}]},
         'parent_tool_use_id': None, 'session_id': 's1'},
        {'type': 'assistant', 'message': {'id': 'msg_1', 'role': 'assistant', 'content': [
            {'type': 'tool_use', 'id': 'toolu_1', 'name': 'Write',
             'input': {'file_path': 'hello.txt', 'content': 'hi\n'}}]}, 'session_id': 's1'},
        {'type': 'user', 'message': {'role': 'user', 'content': [
            {'tool_use_id': 'toolu_1', 'type': 'tool_result',
             'content': 'File created successfully at: hello.txt'}]}, 'session_id': 's1'},
        {'type': 'assistant', 'message': {'id': 'msg_2', 'role': 'assistant', 'content': [
            {'type': 'tool_use', 'id': 'toolu_2', 'name': 'Bash',
             'input': {'command': 'make test', 'description': 'Run tests'}}]}, 'session_id': 's1'},
        {'type': 'user', 'message': {'role': 'user', 'content': [
            {'tool_use_id': 'toolu_2', 'type': 'tool_result', 'is_error': True,
             'content': 'make: *** No rule to make target \'test\'.  Stop.'}]}, 'session_id': 's1'},
        {'type': 'assistant', 'message': {'id': 'msg_3', 'role': 'assistant', 'content': [
            {'type': 'text', 'text': 'Done: hello.txt holds a greeting.'}]}, 'session_id': 's1'},
        {'type': 'result', 'subtype': 'success', 'is_error': False, 'duration_ms': 4321,
         'duration_api_ms': 4000, 'num_turns': 3, 'result': 'Done: hello.txt holds a greeting.',
         'session_id': 's1', 'total_cost_usd': 0.0123,
         'usage': {'input_tokens': 30, 'cache_creation_input_tokens': 200,
                   'cache_read_input_tokens': 1000, 'output_tokens': 70},
         'permission_denials': []},
    ],
}

CLAUDE_DENIED = {
    'lines': [
        {'type': 'assistant', 'message': {'content': [
            {'type': 'tool_use', 'id': 'toolu_1', 'name': 'Write',
             'input': {'file_path': 'hello.txt', 'content': 'hi\n'}}]}},
        {'type': 'user', 'message': {'content': [
            {'tool_use_id': 'toolu_1', 'type': 'tool_result', 'is_error': True,
             'content': "Claude requested permissions to write to hello.txt, "
                        "but you haven't granted it yet."}]}},
        {'type': 'result', 'subtype': 'success', 'is_error': False, 'num_turns': 2,
         'result': 'I need permission to write hello.txt.', 'total_cost_usd': 0.002,
         'usage': {'input_tokens': 10, 'output_tokens': 5},
         'permission_denials': [{'tool_name': 'Write', 'tool_use_id': 'toolu_1',
                                 'tool_input': {'file_path': 'hello.txt', 'content': 'hi\n'}}]},
    ],
    'exit': 0,
}

CLAUDE_MAX_TURNS = {
    'lines': [
        {'type': 'assistant', 'message': {'content': [{'type': 'text', 'text': 'Working on it.'}]}},
        {'type': 'result', 'subtype': 'error_max_turns', 'is_error': True, 'num_turns': 2,
         'duration_ms': 100, 'total_cost_usd': 0.001,
         'usage': {'input_tokens': 5, 'output_tokens': 5}, 'permission_denials': []},
    ],
    'exit': 0,
}

CODEX_OK = {
    'write': {'src/cli.c': 'int verbose;\n'},
    'lines': [
        {'type': 'thread.started', 'thread_id': '0199a213-81c0-7800-8aa1-bbab2a035a53'},
        {'type': 'turn.started'},
        {'type': 'item.completed', 'item': {'id': 'item_0', 'type': 'reasoning',
                                            'text': '**Reading the parser**'}},
        {'type': 'item.started', 'item': {'id': 'item_1', 'type': 'command_execution',
                                          'command': "bash -lc 'ls src'", 'aggregated_output': '',
                                          'exit_code': None, 'status': 'in_progress'}},
        {'type': 'item.completed', 'item': {'id': 'item_1', 'type': 'command_execution',
                                            'command': "bash -lc 'ls src'",
                                            'aggregated_output': 'hello.c\n', 'exit_code': 0,
                                            'status': 'completed'}},
        {'type': 'item.completed', 'item': {'id': 'item_2', 'type': 'file_change', 'changes': [
            {'path': 'src/cli.c', 'kind': 'add'}], 'status': 'completed'}},
        {'type': 'item.completed', 'item': {'id': 'item_3', 'type': 'agent_message',
                                            'text': 'Added src/cli.c.'}},
        {'type': 'turn.completed', 'usage': {'input_tokens': 24763, 'cached_input_tokens': 24448,
                                             'output_tokens': 122}},
    ],
}

CODEX_FAILED = {
    'lines': [
        {'type': 'thread.started', 'thread_id': 't'},
        {'type': 'turn.started'},
        {'type': 'error', 'message': 'Reconnecting... 1/5 (stream disconnected before completion)'},
        {'type': 'error', 'message': 'unexpected status 401 Unauthorized: invalid api key'},
        {'type': 'turn.failed', 'error': {'message': 'unexpected status 401 Unauthorized: invalid api key'}},
    ],
    'exit': 1,
}

GEMINI_OK = {
    'write': {'notes.txt': 'one\ntwo\nthree\nfour\n'},
    'lines': [
        {'type': 'init', 'timestamp': '2025-10-10T12:00:00.000Z', 'session_id': 'g1',
         'model': 'gemini-2.5-pro'},
        {'type': 'message', 'timestamp': '2025-10-10T12:00:00.000Z', 'role': 'user',
         'content': '{prompt}'},
        {'type': 'message', 'timestamp': '2025-10-10T12:00:01.000Z', 'role': 'assistant',
         'content': 'Adding a ', 'delta': True},
        {'type': 'message', 'timestamp': '2025-10-10T12:00:01.100Z', 'role': 'assistant',
         'content': 'line.', 'delta': True},
        {'type': 'tool_use', 'timestamp': '2025-10-10T12:00:02.000Z', 'tool_name': 'replace',
         'tool_id': 'replace-1', 'parameters': {'file_path': 'notes.txt', 'old_string': 'three\n',
                                                'new_string': 'three\nfour\n'}},
        {'type': 'tool_result', 'timestamp': '2025-10-10T12:00:02.100Z', 'tool_id': 'replace-1',
         'status': 'success', 'output': ''},
        {'type': 'message', 'timestamp': '2025-10-10T12:00:03.000Z', 'role': 'assistant',
         'content': 'notes.txt now has four lines.', 'delta': True},
        {'type': 'result', 'timestamp': '2025-10-10T12:00:04.000Z', 'status': 'success',
         'stats': {'total_tokens': 900, 'input_tokens': 800, 'output_tokens': 100, 'cached': 0,
                   'input': 800, 'duration_ms': 4000, 'tool_calls': 1}},
    ],
}

GEMINI_TURN_LIMIT = {
    'lines': [
        {'type': 'init', 'timestamp': 't', 'session_id': 'g2', 'model': 'gemini-2.5-pro'},
        {'type': 'error', 'timestamp': 't', 'severity': 'error',
         'message': 'Maximum session turns exceeded'},
    ],
    'exit': 53,
}

OPENCODE_OK = {
    'write': {'hello.py': 'print("hi")\n'},
    'lines': [
        {'type': 'step_start', 'timestamp': 1767036059338, 'sessionID': 'ses_1',
         'part': {'id': 'prt_1', 'sessionID': 'ses_1', 'messageID': 'msg_1',
                  'type': 'step-start', 'snapshot': '4b825dc6'}},
        {'type': 'tool_use', 'timestamp': 1767036060000, 'sessionID': 'ses_1',
         'part': {'id': 'prt_2', 'sessionID': 'ses_1', 'messageID': 'msg_1', 'type': 'tool',
                  'callID': 'call_1', 'tool': 'write',
                  'state': {'status': 'completed',
                            'input': {'filePath': 'hello.py', 'content': 'print("hi")\n'},
                            'output': '', 'title': 'hello.py', 'metadata': {},
                            'time': {'start': 1, 'end': 2}}}},
        {'type': 'step_finish', 'timestamp': 1767036061000, 'sessionID': 'ses_1',
         'part': {'id': 'prt_3', 'type': 'step-finish', 'reason': 'tool-calls', 'cost': 0.003,
                  'tokens': {'input': 1000, 'output': 50, 'reasoning': 0,
                             'cache': {'read': 0, 'write': 0}}}},
        {'type': 'text', 'timestamp': 1767036063000, 'sessionID': 'ses_1',
         'part': {'id': 'prt_4', 'type': 'text', 'text': 'Wrote hello.py.',
                  'time': {'start': 1767036062500, 'end': 1767036063000}}},
        {'type': 'step_finish', 'timestamp': 1767036063100, 'sessionID': 'ses_1',
         'part': {'id': 'prt_5', 'type': 'step-finish', 'reason': 'stop', 'cost': 0.002,
                  'tokens': {'input': 300, 'output': 20, 'reasoning': 0,
                             'cache': {'read': 0, 'write': 0}}}},
    ],
}

AIDER_OK = {
    'write': {'README.md': '# demo\n\nNow with a verbose flag.\n'},
    'lines': [
        'Aider v0.86.1',
        'Model: test with diff edit format',
        '',
        'Applied edit to README.md',
        'Commit skipped: --no-auto-commits',
    ],
}

SLOW_CLAUDE = {
    'lines': [
        {'type': 'assistant', 'message': {'content': [{'type': 'text', 'text': 'Thinking hard.'}]}},
    ],
    'sleep': 60,
}

ENGINES = {
    # engine name: (stream format, script or None for a missing program)
    'fakeclaude': ('claude', CLAUDE_OK),
    'denyclaude': ('claude', CLAUDE_DENIED),
    'turnsclaude': ('claude', CLAUDE_MAX_TURNS),
    'fakecodex': ('codex', CODEX_OK),
    'failcodex': ('codex', CODEX_FAILED),
    'fakegemini': ('gemini', GEMINI_OK),
    'limitgemini': ('gemini', GEMINI_TURN_LIMIT),
    'fakeopencode': ('opencode', OPENCODE_OK),
    'fakeaider': ('text', AIDER_OK),
    'slowclaude': ('claude', SLOW_CLAUDE),
    'ghostclaude': ('claude', None),
}


def script_lines(script):
    return [line if isinstance(line, str) else json.dumps(line) for line in script['lines']]


class TestStreamEngines(PaiTestCase):

    def prepare_repo(self, repo):
        self.out = os.path.join(self.tmp, 'out')
        os.makedirs(self.out)
        for name, (fmt, script) in ENGINES.items():
            if script is None:
                prog = 'pai-no-such-agent-cli-5e1d {prompt}'
            else:
                path = os.path.join(self.tmp, name + '.json')
                with open(path, 'w') as f:
                    json.dump(script, f)
                prog = '%s %s %s {prompt}' % (sys.executable, FAKE_CLI, path)
            git(repo, 'config', 'engine.%s.command' % name,
                '%s stream --format %s --raw %s/{task_id}.jsonl --result %s/{task_id}.json -- %s'
                % (paitest.PAI_BIN, fmt, self.out, self.out, prog))
            # its reports go outside the worktree: writable in the sandbox
            git(repo, 'config', 'engine.%s.bindRw' % name, self.out)

    # ---- helpers -------------------------------------------------------
    def run_task(self, engine, prompt='add a greeting', final=None):
        tid = self.m.submit(json.dumps({'prompt': prompt, 'engine': engine}))
        if final == 'done':
            self.assertDone(tid)
        else:
            self.assertEqual(self.m.wait_final(tid, 60), final or 'failed')
        return tid

    def log(self, tid):
        return self.m.read('tasks/%d/log' % tid)

    def result(self, tid):
        with open(os.path.join(self.out, '%d.json' % tid)) as f:
            return json.load(f)

    def raw(self, tid):
        with open(os.path.join(self.out, '%d.jsonl' % tid)) as f:
            return f.read().splitlines()

    def assertTranscript(self, tid, expected):
        log = self.log(tid)
        self.assertIn(expected, log, 'log:\n' + log)
        self.assertNotIn('"type"', log, 'raw JSON in the log:\n' + log)

    # ---- what a user sees --------------------------------------------
    def test_claude_log_reads_as_transcript(self):
        tid = self.run_task('fakeclaude', final='done')
        self.assertTranscript(tid, "I'll write hello.txt for: add a greeting\n"
                                   "» Write hello.txt\n"
                                   "» Bash make test\n"
                                   "! make: *** No rule to make target 'test'.  Stop.\n"
                                   "Done: hello.txt holds a greeting.\n")
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:hello.txt' % tid), 'hi\n')

    def test_claude_raw_stream_is_kept_line_for_line(self):
        tid = self.run_task('fakeclaude', final='done')
        self.assertEqual(self.raw(tid), [line.replace('{prompt}', 'add a greeting')
                                         for line in script_lines(CLAUDE_OK)])

    def test_claude_result_file_has_message_tokens_and_cost(self):
        tid = self.run_task('fakeclaude', final='done')
        r = self.result(tid)
        self.assertEqual(r['result'], 'Done: hello.txt holds a greeting.')
        self.assertEqual(r['input_tokens'], 1230)
        self.assertEqual(r['output_tokens'], 70)
        self.assertAlmostEqual(r['cost_usd'], 0.0123)
        self.assertEqual(r['turns'], 3)
        self.assertEqual(r['duration_ms'], 4321)
        self.assertIsNone(r['error'])
        self.assertEqual(r['permission_denials'], 0)

    def test_permission_denials_fail_the_task(self):
        tid = self.run_task('denyclaude')
        log = self.log(tid)
        self.assertIn('» Write hello.txt\n', log)
        self.assertIn('! error: 1 permission denial (Write hello.txt)', log)
        r = self.result(tid)
        self.assertEqual(r['permission_denials'], 1)
        self.assertIn('permission denial', r['error'])
        self.assertEqual(r['result'], 'I need permission to write hello.txt.')

    def test_stream_error_fails_the_task(self):
        tid = self.run_task('turnsclaude')
        self.assertIn('Working on it.\n! error: turn limit reached after 2 turns\n', self.log(tid))
        self.assertEqual(self.result(tid)['error'], 'turn limit reached after 2 turns')

    def test_codex_log_and_usage(self):
        tid = self.run_task('fakecodex', final='done')
        self.assertTranscript(tid, '» Bash ls src\n» Write src/cli.c\nAdded src/cli.c.\n')
        r = self.result(tid)
        self.assertEqual(r['result'], 'Added src/cli.c.')
        self.assertEqual((r['input_tokens'], r['output_tokens']), (24763, 122))
        self.assertIsNone(r['cost_usd'])
        self.assertIn('A\tsrc/cli.c', self.m.read('tasks/%d/files' % tid).splitlines())

    def test_codex_turn_failed_fails_the_task(self):
        tid = self.run_task('failcodex')
        log = self.log(tid)
        self.assertIn('! warning: Reconnecting... 1/5', log)
        self.assertIn('! error: unexpected status 401 Unauthorized: invalid api key\n', log)
        # a 401 is a login problem: the reason says what to do
        hint = ('codex is not logged in or its key was refused: run codex login, '
                'or mount with -o engine=sh')
        self.assertIn('! %s\n' % hint, log)
        self.assertEqual(self.result(tid)['error'], hint)

    def test_gemini_deltas_join_into_text(self):
        tid = self.run_task('fakegemini', final='done')
        self.assertTranscript(tid, 'Adding a line.\n» replace notes.txt\nnotes.txt now has four lines.\n')
        r = self.result(tid)
        self.assertEqual(r['result'], 'notes.txt now has four lines.')
        self.assertEqual((r['input_tokens'], r['output_tokens'], r['duration_ms']), (800, 100, 4000))

    def test_gemini_turn_limit_exit_says_so(self):
        tid = self.run_task('limitgemini')
        self.assertEqual(self.result(tid)['error'],
                         'turn limit reached (exit 53): Maximum session turns exceeded')
        self.assertIn('! error: Maximum session turns exceeded\n', self.log(tid))

    def test_opencode_log_tokens_and_cost(self):
        tid = self.run_task('fakeopencode', final='done')
        self.assertTranscript(tid, '» write hello.py\nWrote hello.py.\n')
        r = self.result(tid)
        self.assertEqual((r['input_tokens'], r['output_tokens'], r['turns']), (1300, 70, 2))
        self.assertAlmostEqual(r['cost_usd'], 0.005)

    def test_text_engine_passes_lines_through(self):
        tid = self.run_task('fakeaider', final='done')
        self.assertIn('Aider v0.86.1\nModel: test with diff edit format\n\nApplied edit to README.md\n',
                      self.log(tid))
        r = self.result(tid)
        self.assertIsNone(r['result'])
        self.assertIsNone(r['error'])

    def test_missing_program_fails_with_command_not_found(self):
        tid = self.run_task('ghostclaude')
        self.assertIn("engine 'claude': command not found", self.log(tid))
        self.assertIn("command not found", self.result(tid)['error'])

    def test_cancel_reaches_the_cli_and_the_result_says_so(self):
        tid = self.m.submit(json.dumps({'prompt': 'think', 'engine': 'slowclaude'}))
        wait_for(lambda: 'Thinking hard.' in self.log(tid), 30, msg='the first event in the log')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')
        path = os.path.join(self.out, '%d.json' % tid)
        # the filter outlives its CLI just long enough to write the result
        wait_for(lambda: os.path.exists(path), 10, msg='the result file')
        self.assertIn('killed by signal', self.result(tid)['error'])


# ---- the presets' own command lines ------------------------------------------

# What the README's table promises, PROMPT and M filled in; ARGS are the
# words of engine.NAME.args, then the task's args.
PRESETS = {
    # name: (stream format, script, argv without model, with model M and ARGS)
    # in the sandbox, with the policy's hook: Claude Code's own prompts off
    'claude': ('claude', CLAUDE_OK,
               ['-p', 'PROMPT', '--output-format', 'stream-json', '--verbose',
                '--permission-mode', 'bypassPermissions', '--settings', 'SETTINGS'],
               ['-p', 'PROMPT', '--output-format', 'stream-json', '--verbose',
                '--permission-mode', 'plan', '--model', 'M',
                '--settings', 'SETTINGS', 'ARGS']),
    # in the sandbox (bubblewrap works here): codex's own is off
    'codex': ('codex', CODEX_OK,
              ['exec', '--json', '-s', 'danger-full-access', '--skip-git-repo-check', 'PROMPT'],
              ['exec', '--json', '-s', 'danger-full-access', '--skip-git-repo-check',
               '-m', 'M', 'ARGS', 'PROMPT']),
    'gemini': ('gemini', GEMINI_OK,
               ['-p', 'PROMPT', '--output-format', 'stream-json', '--approval-mode', 'auto_edit'],
               ['-p', 'PROMPT', '--output-format', 'stream-json', '--approval-mode', 'auto_edit',
                '-m', 'M', 'ARGS']),
    'aider': ('text', AIDER_OK,
              ['--message', 'PROMPT', '--yes-always', '--no-stream', '--no-pretty'],
              ['--message', 'PROMPT', '--yes-always', '--no-stream', '--no-pretty',
               '--model', 'M', 'ARGS']),
    'opencode': ('opencode', OPENCODE_OK,
                 ['run', '--format', 'json', 'PROMPT'],
                 ['run', '--format', 'json', '-m', 'M', 'ARGS', 'PROMPT']),
}

STAND_IN = """#!%s
import sys
sys.path.insert(0, %r)
import fake_cli
sys.exit(fake_cli.stand_in(%r, %r))
"""


class TestPresetCommandLines(PaiTestCase):
    """Each agent CLI preset, built by the engine registry (no command
    configured), runs a stand-in named like the real CLI found on PATH: it
    records the argv, environment, directory and parent it was started
    with, and those are exactly what the README documents."""
    autostart = False

    def setUp(self):
        super().setUp()
        self.bin = os.path.join(self.tmp, 'bin')
        self.rec = os.path.join(self.tmp, 'rec')
        os.makedirs(self.bin)
        os.makedirs(self.rec)
        for name, (_, script, _, _) in PRESETS.items():
            path = os.path.join(self.tmp, name + '.json')
            with open(path, 'w') as f:
                json.dump(script, f)
            prog = os.path.join(self.bin, name)
            with open(prog, 'w') as f:
                f.write(STAND_IN % (sys.executable, HERE, path, self.rec))
            os.chmod(prog, 0o755)
            # the stand-in's record is written outside the worktree:
            # writable in the sandbox
            git(self.m.repo, 'config', 'engine.%s.bindRw' % name, self.rec)
        env = dict(os.environ)
        env['PATH'] = self.bin + ':' + env.get('PATH', '/usr/bin:/bin')
        env['PAI_TEST_FROM_MOUNT'] = 'inherited'
        self.m.start(env=env)

    def prepare_repo(self, repo):
        git(repo, 'config', '--add', 'engine.gemini.env', 'FROM_CONFIG=gemini-config')
        git(repo, 'config', '--add', 'engine.gemini.env', 'BOTH=config')

    def record(self, name, tid):
        with open(os.path.join(self.rec, '%s-%d.json' % (name, tid))) as f:
            return json.load(f)

    def run_preset(self, name, **spec):
        spec.setdefault('prompt', 'add a greeting')
        spec['engine'] = name
        tid = self.m.submit(json.dumps(spec))
        self.assertDone(tid)
        return tid, self.record(name, tid)

    def expected(self, words, prompt, model=None, args=()):
        out = []
        for w in words:
            if w == 'PROMPT':
                out.append(prompt)
            elif w == 'M':
                out.append(model)
            elif w == 'ARGS':
                out += list(args)
            else:
                out.append(w)
        return out

    def settings(self, words):
        """claude's --settings file (the policy's hook) as SETTINGS."""
        words = list(words)
        if '--settings' in words:
            i = words.index('--settings') + 1
            self.assertTrue(words[i].endswith('-settings.json'), words)
            with open(words[i]) as f:
                hook = json.load(f)['hooks']['PreToolUse'][0]['hooks'][0]
            self.assertEqual(hook['command'], paitest.PAI_BIN + ' hook')
            words[i] = 'SETTINGS'
        return words

    def check_run(self, name, tid, rec, argv):
        fmt = PRESETS[name][0]
        self.assertEqual(rec['argv'][0], os.path.join(self.bin, name))
        self.assertEqual(self.settings(rec['argv'][1:]), argv)
        # wrapped in `parallelai stream`, which turns the stream into the log
        out = self.settings(rec['parent'])
        self.assertEqual(out[:4], [paitest.PAI_BIN, 'stream', '--format', fmt], out)
        self.assertEqual(out[4], '--raw')
        self.assertEqual(out[6], '--result')
        self.assertEqual(out[8:], ['--', name] + argv)
        wt = os.path.realpath(self.m.path('tasks/%d/worktree' % tid))
        self.assertEqual(os.path.realpath(rec['cwd']), wt)
        self.assertTrue(rec['stdin_is_dev_null'])
        env = rec['env']
        self.assertEqual(env['PAI_TASK_ID'], str(tid))
        self.assertEqual(os.path.realpath(env['PAI_WORKTREE']), wt)
        self.assertEqual(env['PAI_BRANCH'], 'pai/task-%d' % tid)
        self.assertEqual(env['PAI_TEST_FROM_MOUNT'], 'inherited')
        self.assertTrue(env.get('PAI_RUN'))
        with open(env['PAI_PROMPT_FILE']) as f:
            self.assertEqual(f.read(), env['PAI_PROMPT'])
        self.assertEqual(self.m.status(tid)['engine'], name)

    def test_each_preset_runs_its_documented_command_line(self):
        for name, (_, _, plain, _) in PRESETS.items():
            with self.subTest(engine=name):
                prompt = 'make %s add a greeting' % name
                tid, rec = self.run_preset(name, prompt=prompt)
                self.check_run(name, tid, rec, self.expected(plain, prompt))
                self.assertEqual(rec['env']['PAI_PROMPT'], prompt)

    def test_model_and_args_go_where_the_readme_says(self):
        for name, (_, _, _, full) in PRESETS.items():
            git(self.m.repo, 'config', 'engine.%s.args' % name, "--cfg-arg 'two words'")
        # the configuration is read at mount
        self.m.unmount()
        env = dict(os.environ)
        env['PATH'] = self.bin + ':' + env.get('PATH', '/usr/bin:/bin')
        env['PAI_TEST_FROM_MOUNT'] = 'inherited'
        self.m.start(env=env)
        for name, (_, _, _, full) in PRESETS.items():
            with self.subTest(engine=name):
                spec = {'prompt': 'fix it', 'model': 'model-%s' % name,
                        'args': ['--task-arg']}
                if name == 'claude':
                    spec['permission_mode'] = 'plan'
                tid, rec = self.run_preset(name, **spec)
                self.check_run(name, tid, rec, self.expected(
                    full, 'fix it', 'model-%s' % name,
                    ['--cfg-arg', 'two words', '--task-arg']))

    def test_claude_permission_mode_follows_the_sandbox_and_says_why(self):
        tid, rec = self.run_preset('claude')
        argv = rec['argv']
        self.assertEqual(argv[argv.index('--permission-mode') + 1], 'bypassPermissions')
        # Claude Code takes bypassPermissions as root only in a sandbox
        self.assertEqual(rec['env'].get('IS_SANDBOX'), '1')
        self.assertEqual(self.m.status(tid)['permission_mode'],
                         'bypassPermissions (sandbox and policy hook in force)')
        self.assertIn('permission_mode: bypassPermissions (sandbox and policy hook in force)\n',
                      self.m.read('tasks/%d/status' % tid))
        self.assertEqual(json.loads(self.m.read('tasks/%d/task.json' % tid))['permission_mode'],
                         'bypassPermissions (sandbox and policy hook in force)')
        # without the sandbox Claude Code's own prompts stay
        tid, rec = self.run_preset('claude', sandbox='none')
        argv = rec['argv']
        self.assertEqual(argv[argv.index('--permission-mode') + 1], 'acceptEdits')
        self.assertNotIn('IS_SANDBOX', rec['env'])
        self.assertEqual(self.m.status(tid)['permission_mode'], 'acceptEdits (no sandbox)')
        # the user's own mode wins, sandbox or not
        tid, rec = self.run_preset('claude', permission_mode='default')
        argv = rec['argv']
        self.assertEqual(argv[argv.index('--permission-mode') + 1], 'default')
        self.assertNotIn('IS_SANDBOX', rec['env'])
        self.assertEqual(self.m.status(tid)['permission_mode'],
                         "default (the task's permission_mode)")
        # another engine has none
        tid, rec = self.run_preset('gemini')
        self.assertNotIn('permission_mode', self.m.status(tid))

    def test_engine_env_and_task_env_reach_the_cli(self):
        tid, rec = self.run_preset('gemini', env={'FROM_TASK': 'task', 'BOTH': 'task'})
        env = rec['env']
        self.assertEqual((env['FROM_CONFIG'], env['FROM_TASK'], env['BOTH']),
                         ('gemini-config', 'task', 'task'))


if __name__ == '__main__':
    paitest.main()
