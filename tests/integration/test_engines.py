#!/usr/bin/python3
"""Engines configured with `git config engine.NAME.command`, and a missing one;
the default engine, what the mount says about it, and a first run of an
agent CLI that is installed but not logged in."""

import json
import os
import stat
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git  # noqa: E402

MYTOOL = '''#!/bin/sh
# a stand-in agent CLI: mytool --prompt-file FILE
[ "$1" = --prompt-file ] || { echo "usage: mytool --prompt-file FILE" >&2; exit 2; }
echo "mytool-ran task=$PAI_TASK_ID"
cp "$2" from-mytool.txt
'''


class TestConfigEngines(PaiTestCase):

    def prepare_repo(self, repo):
        tool = os.path.join(self.tmp, 'bin', 'mytool')
        os.makedirs(os.path.dirname(tool))
        with open(tool, 'w') as f:
            f.write(MYTOOL)
        os.chmod(tool, 0o755)
        git(repo, 'config', 'engine.mytool.command', '%s --prompt-file {prompt_file}' % tool)
        git(repo, 'config', 'engine.ghost.command', 'pai-no-such-program-7f3a --prompt-file {prompt_file}')

    def test_config_engine_runs_its_command(self):
        prompt = 'please write a haiku\nabout git worktrees\n'
        tid = self.m.submit(json.dumps({'prompt': prompt, 'engine': 'mytool'}))
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('engine'), 'mytool')
        self.assertIn('mytool-ran task=%d' % tid, self.m.read('tasks/%d/log' % tid))
        self.assertIn('A\tfrom-mytool.txt', self.m.read('tasks/%d/files' % tid).splitlines())
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:from-mytool.txt' % tid), prompt)
        self.assertIn('+about git worktrees', self.m.read('tasks/%d/diff' % tid))

    def test_missing_engine_program_fails_task_with_reason(self):
        tid = self.m.submit(json.dumps({'prompt': 'anything', 'engine': 'ghost'}))
        self.assertEqual(self.m.wait_final(tid, 30), 'failed')
        st = self.m.read('tasks/%d/status' % tid)
        reason = paitest.parse_kv(st).get('reason', '')
        self.assertIn('not found', reason.lower(), st)
        self.assertIn('pai-no-such-program-7f3a', self.m.read('tasks/%d/log' % tid))
        self.assertIn('not found', self.m.read('tasks/%d/log' % tid).lower())
        self.assertEqual(json.loads(self.m.read('tasks/%d/task.json' % tid)).get('reason'), reason)

    def test_missing_engine_program_does_not_block_the_queue(self):
        bad = self.m.submit(json.dumps({'prompt': 'x', 'engine': 'ghost'}))
        good = self.m.submit('echo still-fine\n')
        self.assertEqual(self.m.wait_final(bad, 30), 'failed')
        self.assertDone(good)


class TestEngineOption(PaiTestCase):
    mount_opts = ('engine=mytool',)

    def prepare_repo(self, repo):
        tool = os.path.join(self.tmp, 'mytool')
        with open(tool, 'w') as f:
            f.write(MYTOOL)
        os.chmod(tool, stat.S_IRWXU)
        git(repo, 'config', 'engine.mytool.command', '%s --prompt-file {prompt_file}' % tool)

    def test_engine_option_sets_default_engine(self):
        tid = self.m.submit('plain text prompt\n')
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('engine'), 'mytool')
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:from-mytool.txt' % tid), 'plain text prompt\n')

    def test_json_spec_overrides_default_engine(self):
        tid = self.m.submit('{"prompt": "echo via-sh", "engine": "sh"}')
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('engine'), 'sh')
        self.assertIn('via-sh', self.m.read('tasks/%d/log' % tid))


class TestTaskEnvironment(PaiTestCase):

    def prepare_repo(self, repo):
        git(repo, 'config', '--add', 'engine.sh.env', 'FROM_CONFIG=config')
        git(repo, 'config', '--add', 'engine.sh.env', 'BOTH=config')

    def test_spec_env_reaches_the_engine_and_wins(self):
        tid = self.m.submit(json.dumps({
            'prompt': 'echo "$FROM_CONFIG $BOTH $FROM_TASK"',
            'env': {'FROM_TASK': 'task', 'BOTH': 'task'}}))
        self.assertEqual(self.m.wait_final(tid), 'done')
        self.assertEqual(self.m.read('tasks/%d/log' % tid), 'config task task\n')

    def test_bad_env_is_refused(self):
        self.assertErrno(self.m.try_new(b'{"prompt": "x", "env": {"A=B": "c"}}'),
                         paitest.errno.EINVAL)
        self.assertEqual(self.m.task_ids(), [])


class TestConfigWorkers(PaiTestCase):
    workers = 0      # no -o workers: the repository's config decides

    def prepare_repo(self, repo):
        git(repo, 'config', 'parallelai.workers', '3')

    def test_git_config_sets_workers(self):
        self.assertEqual(self.m.kv('status').get('workers'), '3')
        self.assertEqual(sorted(os.listdir(self.m.path('workers'))), ['1', '2', '3'])


# A PATH with no agent CLI on it (claude installs into /usr/bin); the
# daemon itself needs nothing from PATH, and sh tasks run /bin/sh.
NO_AGENT_PATH = '/nonexistent'

FAKE_CLI = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fake_cli.py')

# What Claude Code 2.1 prints for `claude -p ... --output-format stream-json
# --verbose` with no login and no key (trimmed), before it exits 1.
CLAUDE_NOT_LOGGED_IN = {
    'lines': [
        {'type': 'system', 'subtype': 'init', 'cwd': '.', 'session_id': 's1',
         'tools': ['Bash', 'Edit', 'Write'], 'model': 'claude-opus-4-8[1m]',
         'permissionMode': 'acceptEdits', 'apiKeySource': 'none'},
        {'type': 'assistant', 'message': {
            'model': '<synthetic>', 'role': 'assistant', 'type': 'message',
            'content': [{'type': 'text', 'text': 'Not logged in \u00b7 Please run /login'}]},
         'parent_tool_use_id': None, 'session_id': 's1', 'error': 'authentication_failed'},
        {'type': 'result', 'subtype': 'success', 'is_error': True, 'duration_ms': 165,
         'num_turns': 1, 'result': 'Not logged in \u00b7 Please run /login',
         'session_id': 's1', 'total_cost_usd': 0, 'permission_denials': []},
    ],
    'exit': 1,
}

CLAUDE_HINT = ('claude is not logged in: run claude once to log in, '
               'set ANTHROPIC_API_KEY, or mount with -o engine=sh')


class TestDefaultEngine(PaiTestCase):
    """With no engine configured: claude if on PATH, else anthropic or
    openai if their key is set, else sh; status says which and why."""
    autostart = False

    def prepare_repo(self, repo):
        git(repo, 'config', '--unset', 'parallelai.engine')

    def env(self, path, **extra):
        env = {k: v for k, v in os.environ.items()
               if k not in ('ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'OPENAI_BASE_URL')}
        env['PATH'] = path
        env.update(extra)
        return env

    def fake_bin(self, name, script=None):
        """A directory with a program name in it: one that exits 0, or a
        stand-in that plays script (fake_cli.py)."""
        d = os.path.join(self.tmp, 'fakebin')
        os.makedirs(d, exist_ok=True)
        body = 'exit 0\n'
        if script is not None:
            path = os.path.join(self.tmp, name + '.json')
            with open(path, 'w') as f:
                json.dump(script, f)
            body = 'exec %s %s %s "$@"\n' % (sys.executable, FAKE_CLI, path)
        with open(os.path.join(d, name), 'w') as f:
            f.write('#!/bin/sh\n' + body)
        os.chmod(os.path.join(d, name), 0o755)
        return d

    def default_engine_lines(self, text):
        return [ln for ln in text.splitlines() if 'default engine' in ln]

    def test_claude_on_path_is_the_default(self):
        self.m.start(env=self.env(self.fake_bin('claude')))
        st = self.m.kv('status')
        self.assertEqual(st['engine'], 'claude')
        self.assertEqual(st['engine_reason'], 'claude is on PATH')

    def test_anthropic_key_without_claude(self):
        self.m.start(env=self.env(NO_AGENT_PATH, ANTHROPIC_API_KEY='k'))
        st = self.m.kv('status')
        self.assertEqual((st['engine'], st['engine_reason']),
                         ('anthropic', 'ANTHROPIC_API_KEY is set'))

    def test_openai_base_url_without_keys(self):
        self.m.start(env=self.env(NO_AGENT_PATH, OPENAI_BASE_URL='http://127.0.0.1:1/v1'))
        self.assertEqual(self.m.kv('status')['engine'], 'openai')

    def test_nothing_found_means_sh(self):
        self.m.start(env=self.env(NO_AGENT_PATH))
        st = self.m.kv('status')
        self.assertEqual(st['engine'], 'sh')
        tid = self.m.submit('echo plain\n')
        self.assertEqual(self.m.wait_final(tid), 'done')
        self.assertEqual(self.m.kv('tasks/%d/status' % tid)['engine'], 'sh')

    def test_configured_engine_wins(self):
        git(self.m.repo, 'config', 'parallelai.engine', 'sh')
        self.m.start(env=self.env(self.fake_bin('claude')))
        st = self.m.kv('status')
        self.assertEqual((st['engine'], st['engine_reason']), ('sh', 'configured'))
        # chosen by the user: nothing to say when mounting
        self.assertEqual(self.default_engine_lines(self.m.stderr_text()), [])
        self.assertIn("This mount's default engine: sh (configured);\n", self.m.read('README'))

    def test_mount_says_which_engine_it_chose_and_why(self):
        r = paitest.run([paitest.PAI_BIN, self.m.repo, self.m.mnt], timeout=30,
                        env=self.env(self.fake_bin('claude')))
        self.assertEqual(r.returncode, 0, r.stderr)
        pids = paitest.daemon_pids(self.m.mnt)
        # one line, on the terminal the mount was started from
        self.assertEqual(r.stderr, 'parallelai: default engine claude (claude is on PATH); '
                                   '-o engine=sh runs prompts as shell commands\n')
        self.assertEqual(r.stdout, '')
        self.assertIn("changed is committed on the branch, and its diff is shown here.\n\n"
                      "This mount's default engine: claude (claude is on PATH);\n"
                      "-o engine=sh runs prompts as shell commands.\n", self.m.read('README'))
        st = json.loads(self.m.read('status.json'))
        self.assertEqual((st['engine'], st['engine_reason']), ('claude', 'claude is on PATH'))
        self.assertEqual(paitest.run(['fusermount3', '-u', self.m.mnt]).returncode, 0)
        paitest.wait_for(lambda: not any(paitest.pid_alive(p) for p in pids), 30,
                         msg='daemon to exit after unmount')

    def test_sh_as_default_says_how_to_pick_an_agent(self):
        self.m.start(env=self.env(NO_AGENT_PATH))
        self.assertEqual(self.default_engine_lines(self.m.stderr_text()),
                         ['parallelai: default engine sh (no agent CLI on PATH and no API '
                          'key set); prompts run as shell commands; -o engine=NAME picks '
                          'an agent'])

    def test_claude_not_logged_in_fails_saying_what_to_do(self):
        # a first run: Claude Code installed, never logged in, no key
        self.m.start(env=self.env(self.fake_bin('claude', CLAUDE_NOT_LOGGED_IN)))
        self.assertEqual(self.m.kv('status')['engine'], 'claude')
        tid = self.m.submit('make test\n')
        self.assertEqual(self.m.wait_final(tid), 'failed')
        st = self.m.status(tid)
        self.assertEqual((st['engine'], st['reason']), ('claude', CLAUDE_HINT))
        log = self.m.read('tasks/%d/log' % tid)
        # the CLI's own words, and at the end what to do
        self.assertIn('Not logged in \u00b7 Please run /login\n', log)
        self.assertTrue(log.endswith('\n! %s\n' % CLAUDE_HINT), log)
        self.assertEqual(json.loads(self.m.read('tasks/%d/task.json' % tid))['reason'],
                         CLAUDE_HINT)
        # what it says to do works: with -o engine=sh a prompt is a command
        self.m.unmount()
        self.m.opts.append('engine=sh')
        self.m.start(env=self.env(self.fake_bin('claude', CLAUDE_NOT_LOGGED_IN)))
        tid = self.m.submit('echo from sh > sh.txt\n')
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid)['engine'], 'sh')


if __name__ == '__main__':
    paitest.main()
