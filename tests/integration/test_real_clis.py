#!/usr/bin/python3
"""The real agent CLIs from the npm registry, Claude Code
(@anthropic-ai/claude-code) and Codex (@openai/codex), run as parallelai's
`claude` and `codex` presets against the loopback LLM server
(tests/llm_server.py): the file they were told to write is committed on the
task's branch, the log reads as a transcript, tokens reach `status`, and a
failed turn fails the task.

Nothing leaves the machine: each test moves this process into a network
namespace of its own that holds only a loopback interface (what `unshare -n`
does), before it starts the server, the daemon and so the CLIs, which all
inherit it. The mount is still visible (a network namespace is not a mount
namespace). A CLI that is not installed, or a kernel that refuses the
namespace, skips the test with the reason. tests/run installs the CLIs into
BUILDDIR/npm-clis, which only this file puts on PATH.
"""

import ctypes
import errno
import fcntl
import json
import os
import shutil
import socket
import struct
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import paitest  # noqa: E402
from paitest import PaiTestCase, git  # noqa: E402
from llm_server import LLMServer  # noqa: E402

# tests/run installs the CLIs into a prefix of the build's own, never onto
# the user's PATH; meson says where (PAI_CLI_PREFIX). Its bin directory goes
# first on PATH here, for this process and so for the daemon and the
# engines it starts.
CLI_PREFIX = os.environ.get('PAI_CLI_PREFIX')
if CLI_PREFIX:
    os.environ['PATH'] = (os.path.join(CLI_PREFIX, 'node_modules', '.bin') + os.pathsep +
                          os.environ.get('PATH', '/usr/bin:/bin'))

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, '%s: %s' % (what, os.strerror(e)))


def netns_id(pid='self'):
    return os.readlink('/proc/%s/ns/net' % pid)


def enter_loopback_only_netns():
    """unshare(CLONE_NEWNET) for this thread (and all it starts from now
    on), with lo brought up; returns an fd of the namespace left behind."""
    back = os.open('/proc/self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.unshare(CLONE_NEWNET), 'unshare(CLONE_NEWNET)')
        # ip link set lo up
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifr = bytearray(struct.pack('16sH22x', b'lo', 0))
            fcntl.ioctl(s, SIOCGIFFLAGS, ifr)
            flags = struct.unpack_from('16sH', ifr)[1] | IFF_UP
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack('16sH22x', b'lo', flags))
    except OSError:
        leave_netns(back)
        raise
    return back


def leave_netns(back):
    _check(_libc.setns(back, CLONE_NEWNET), 'setns')
    os.close(back)


class RealCLITestCase(PaiTestCase):
    """A fresh loopback-only network namespace per test, with the LLM
    server inside it and the daemon started inside it."""

    cli = None          # the program that must be on PATH
    package = None      # its npm package, for the skip message

    @property
    def mount_opts(self):
        # Claude Code refuses to edit beneath a .git directory ("a sensitive
        # file"), even with acceptEdits: keep the worktrees out of GITDIR
        return ('state=' + os.path.join(self.tmp, 'state'),)

    def setUp(self):
        if not shutil.which(self.cli):
            self.skipTest('%s is not installed (tests/run installs it: npm install '
                          '--prefix %s %s)' % (self.cli, CLI_PREFIX or 'BUILDDIR/npm-clis',
                                               self.package))
        self.outer_netns = netns_id()
        try:
            back = enter_loopback_only_netns()
        except OSError as e:
            self.skipTest('no network namespace of our own (unshare -n): %s' % e)
        # runs last, after the daemon has gone
        self.addCleanup(leave_netns, back)
        self.srv = LLMServer({'turns': []}).start()
        self.addCleanup(self.srv.stop)
        self.home = None
        super().setUp()

    def make_home(self):
        self.home = os.path.join(self.tmp, 'home')
        os.makedirs(self.home)
        return self.home

    def script(self, turns):
        self.srv.httpd.script['turns'] = turns

    def assertIsolated(self):
        """The daemon, and so every engine it starts, is in our namespace,
        which has nothing but loopback: no route leads off the machine."""
        self.assertNotEqual(netns_id(), self.outer_netns)
        self.assertEqual(netns_id(self.m.proc.pid), netns_id())
        self.assertEqual([name for _, name in socket.if_nameindex()], ['lo'])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            self.assertEqual(s.connect_ex(('192.0.2.1', 443)), errno.ENETUNREACH)

    def run_task(self, prompt, engine, final, timeout=180):
        self.assertIsolated()
        tid = self.m.submit(json.dumps({'prompt': prompt, 'engine': engine}))
        if final == 'done':
            self.assertDone(tid, timeout=timeout)
        else:
            self.assertEqual(self.m.wait_final(tid, timeout), final)
        return tid

    def log(self, tid):
        return self.m.read('tasks/%d/log' % tid)

    def requests_to(self, path):
        return [r for r in self.srv.requests if r['path'].split('?', 1)[0].endswith(path)]


# ---- Claude Code through ANTHROPIC_BASE_URL ----------------------------------

class TestRealClaude(RealCLITestCase):
    """Claude Code itself, as the `claude` preset, talking to our server."""

    cli = 'claude'
    package = '@anthropic-ai/claude-code'
    permission_mode = None

    def prepare_repo(self, repo):
        # Write takes an absolute path: the first task's worktree
        wt = os.path.join(os.path.realpath(self.tmp), 'state', 'worktrees', '1')
        self.script([
            {'text': "I'll write hello.txt.",
             'tool_calls': [{'name': 'Write', 'input': {'file_path': wt + '/hello.txt',
                                                        'content': 'hi from claude\n'}}],
             'usage': {'input': 100, 'output': 20}},
            {'text': 'Done: hello.txt holds a greeting.', 'usage': {'input': 150, 'output': 10}},
        ])
        for kv in ('ANTHROPIC_BASE_URL=' + self.srv.url, 'ANTHROPIC_API_KEY=test',
                   'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1', 'DISABLE_AUTOUPDATER=1',
                   'DISABLE_TELEMETRY=1', 'DISABLE_ERROR_REPORTING=1', 'IS_SANDBOX=1',
                   'HOME=' + self.make_home()):
            git(repo, 'config', '--add', 'engine.claude.env', kv)
        git(repo, 'config', 'engine.claude.model', 'claude-sonnet-4-5')
        if self.permission_mode:
            git(repo, 'config', 'engine.claude.permissionMode', self.permission_mode)

    def test_real_claude_writes_the_file_and_logs_a_transcript(self):
        tid = self.run_task('write hello.txt', 'claude', 'done')
        self.assertEqual(tid, 1)
        log = self.log(tid)
        self.assertIn("I'll write hello.txt.\n» Write hello.txt\nDone: hello.txt holds a greeting.\n",
                      log)
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:hello.txt' % tid), 'hi from claude\n')
        self.assertEqual(self.m.read('tasks/%d/result' % tid).strip(),
                         'Done: hello.txt holds a greeting.')
        reqs = self.requests_to('/v1/messages')
        self.assertGreaterEqual(len(reqs), 2)
        self.assertEqual(reqs[0]['headers'].get('x-api-key'), 'test')


class TestRealClaudeWithoutPermission(TestRealClaude):
    """With the default permission mode Claude Code denies the edit and
    exits 0: the task must fail all the same."""

    permission_mode = 'default'

    test_real_claude_writes_the_file_and_logs_a_transcript = None

    def test_real_claude_denied_edit_fails_the_task(self):
        tid = self.run_task('write hello.txt', 'claude', 'failed')
        log = self.log(tid)
        self.assertIn('! error: 1 permission denial (Write hello.txt)', log)
        self.assertIn('permission denial', self.m.status(tid).get('reason', ''))


class TestRealClaudeWithPolicy(RealCLITestCase):
    """Claude Code with the policy's PreToolUse hook, in the sandbox: a Bash
    call a rule denies is not run and the log says why, and one the policy
    leaves to its default runs without a permission prompt (the preset's
    mode is bypassPermissions; with acceptEdits Claude Code would deny it).
    IS_SANDBOX=1, which Claude Code wants for that as root, is the preset's
    own doing here: the configuration does not set it."""

    cli = 'claude'
    package = '@anthropic-ai/claude-code'

    def prepare_repo(self, repo):
        self.script([
            {'text': 'First the marker, then the push.',
             'tool_calls': [{'name': 'Bash', 'input': {
                 'command': 'touch denied-marker && git push origin main',
                 'description': 'Mark and push'}}],
             'usage': {'input': 100, 'output': 20}},
            # not one Claude Code lets acceptEdits run (it does touch, mkdir)
            {'text': 'The push was refused; the tests, then.',
             'tool_calls': [{'name': 'Bash', 'input': {
                 'command': 'make test', 'description': 'Run the tests'}}],
             'usage': {'input': 120, 'output': 20}},
            {'text': 'Done: allowed-marker is there.', 'usage': {'input': 150, 'output': 10}},
        ])
        for kv in ('ANTHROPIC_BASE_URL=' + self.srv.url, 'ANTHROPIC_API_KEY=test',
                   'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1', 'DISABLE_AUTOUPDATER=1',
                   'DISABLE_TELEMETRY=1', 'DISABLE_ERROR_REPORTING=1'):
            git(repo, 'config', '--add', 'engine.claude.env', kv)
        git(repo, 'config', 'engine.claude.model', 'claude-sonnet-4-5')
        with open(os.path.join(repo, 'Makefile'), 'w') as f:
            f.write('test:\n\techo tested > allowed-marker\n')
        git(repo, 'add', 'Makefile')
        git(repo, 'commit', '-qm', 'a Makefile')

    def tool_results(self):
        out = []
        for r in self.requests_to('/v1/messages'):
            for msg in r['body'].get('messages', []):
                if msg.get('role') == 'user' and isinstance(msg.get('content'), list):
                    out += [b for b in msg['content'] if b.get('type') == 'tool_result']
        return out

    def test_real_claude_denied_bash_is_not_run_and_allowed_bash_runs(self):
        tid = self.run_task('mark it', 'claude', 'done')
        self.assertEqual(tid, 1)
        files = git(self.m.repo, 'ls-tree', '--name-only', 'pai/task-%d' % tid).split()
        self.assertNotIn('denied-marker', files)
        self.assertIn('allowed-marker', files)
        wt = os.path.join(self.tmp, 'state', 'worktrees', str(tid))
        self.assertFalse(os.path.exists(os.path.join(wt, 'denied-marker')))
        log = self.log(tid)
        self.assertIn('denied by policy (builtin git-push)', log)
        self.assertNotIn('permission denial', log)
        # Claude Code heard the hook's reason as the tool's answer
        results = json.dumps(self.tool_results())
        self.assertIn('denied by policy (builtin git-push)', results)
        audit = [json.loads(x) for x in self.m.read('audit').splitlines()]
        self.assertEqual([(a['engine'], a['decision'], a['rule'], a['action'])
                          for a in audit],
                         [('claude', 'deny', 'builtin git-push',
                           'Bash(touch denied-marker && git push origin main)'),
                          ('claude', 'allow', 'policy.default', 'Bash(make test)')])
        st = self.m.status(tid)
        self.assertEqual(st.get('sandbox'), 'bwrap')
        self.assertEqual(st.get('policy'), 'enforced')
        self.assertEqual(st.get('permission_mode'),
                         'bypassPermissions (sandbox and policy hook in force)')


class TestRealClaudeNotLoggedIn(RealCLITestCase):
    """Claude Code as on a machine where it was installed and never set up:
    no login, no key. The task fails with a reason that says what to do."""

    cli = 'claude'
    package = '@anthropic-ai/claude-code'

    def prepare_repo(self, repo):
        # nor a key from the environment the daemon starts in
        key = os.environ.pop('ANTHROPIC_API_KEY', None)
        if key is not None:
            self.addCleanup(os.environ.__setitem__, 'ANTHROPIC_API_KEY', key)
        for kv in ('CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1', 'DISABLE_AUTOUPDATER=1',
                   'DISABLE_TELEMETRY=1', 'DISABLE_ERROR_REPORTING=1',
                   'HOME=' + self.make_home()):
            git(repo, 'config', '--add', 'engine.claude.env', kv)

    def test_real_claude_not_logged_in_says_what_to_do(self):
        tid = self.run_task('write hello.txt', 'claude', 'failed', timeout=60)
        hint = ('claude is not logged in: run claude once to log in, '
                'set ANTHROPIC_API_KEY, or mount with -o engine=sh')
        self.assertEqual(self.m.status(tid).get('reason'), hint)
        log = self.log(tid)
        self.assertIn('Not logged in', log)
        self.assertTrue(log.endswith('\n! %s\n' % hint), log)
        self.assertEqual(self.srv.requests, [])


# ---- Codex through a custom model provider (the Responses API) --------------

KEY_ENV = 'PAI_TEST_CODEX_KEY'
KEY = 'sk-pai-codex-test-key'


def codex_args(base_url):
    """`-c` overrides for codex exec: our server as a model provider that
    speaks the Responses API, no retries (a failed turn fails now), no
    analytics, feedback, metrics or update check. --strict-config makes a
    key this version does not know an error, not a silent no-op."""
    overrides = [
        'model_provider=pai',
        'model_providers.pai.name=pai-test',
        'model_providers.pai.base_url=%s/v1' % base_url,
        'model_providers.pai.wire_api=responses',
        'model_providers.pai.env_key=' + KEY_ENV,
        'model_providers.pai.request_max_retries=0',
        'model_providers.pai.stream_max_retries=0',
        'analytics.enabled=false',
        'feedback.enabled=false',
        'otel.metrics_exporter=none',
        'check_for_update_on_startup=false',
    ]
    return ' '.join(['--strict-config'] + ['-c ' + o for o in overrides])


CODEX_WRITE = [
    {'text': "I'll write hello.txt.",
     'tool_calls': [{'name': 'exec_command',
                     'input': {'cmd': "echo 'hi from codex' > hello.txt"}}],
     'usage': {'input': 100, 'output': 20}},
    {'text': 'Done: hello.txt holds a greeting.', 'usage': {'input': 150, 'output': 10}},
]


class TestRealCodex(RealCLITestCase):
    """Codex itself (`codex exec --json`), as the `codex` preset."""

    cli = 'codex'
    package = '@openai/codex'

    def prepare_repo(self, repo):
        self.script(CODEX_WRITE)
        for kv in (KEY_ENV + '=' + KEY, 'HOME=' + self.make_home(),
                   'CODEX_HOME=' + os.path.join(self.home, '.codex')):
            git(repo, 'config', '--add', 'engine.codex.env', kv)
        os.makedirs(os.path.join(self.home, '.codex'))
        # codex writes its sessions into CODEX_HOME as it runs: a home of
        # the test's own, not the task's, is bound writable into the
        # sandbox (the default ~/.codex is copied into the task's home)
        git(repo, 'config', 'engine.codex.bindRw', self.home)
        git(repo, 'config', 'engine.codex.model', 'pai-test')
        git(repo, 'config', 'engine.codex.args', codex_args(self.srv.url))

    def test_real_codex_writes_the_file_that_is_committed(self):
        tid = self.run_task('write hello.txt', 'codex', 'done')
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:hello.txt' % tid), 'hi from codex\n')
        # nothing else: codex keeps its state in CODEX_HOME, not the worktree
        self.assertEqual(self.m.read('tasks/%d/files' % tid), 'A\thello.txt\n')
        log = self.log(tid)
        self.assertIn("I'll write hello.txt.\n» Bash echo 'hi from codex' > hello.txt\n"
                      "Done: hello.txt holds a greeting.\n", log)
        self.assertNotIn('"type"', log, 'raw JSON in the log:\n' + log)
        self.assertEqual(self.m.read('tasks/%d/result' % tid).strip(),
                         'Done: hello.txt holds a greeting.')
        st = self.m.status(tid)
        self.assertEqual((st.get('input_tokens'), st.get('output_tokens')), ('250', '30'), st)
        root = self.m.kv('status')
        self.assertEqual((root.get('input_tokens'), root.get('output_tokens')), ('250', '30'))

    def test_real_codex_sends_the_tool_result_back(self):
        tid = self.run_task('write hello.txt', 'codex', 'done')
        reqs = self.requests_to('/v1/responses')
        self.assertEqual(len(reqs), 2, [r['path'] for r in self.srv.requests])
        first, second = reqs[0], reqs[1]
        self.assertEqual(first['headers'].get('authorization'), 'Bearer ' + KEY)
        self.assertEqual(first['body']['model'], 'pai-test')
        self.assertIs(first['body']['stream'], True)
        self.assertIn('exec_command', [t.get('name') for t in first['body']['tools']])
        self.assertIn({'type': 'input_text', 'text': 'write hello.txt'},
                      [c for i in first['body']['input'] if i.get('role') == 'user'
                       for c in i.get('content', [])])
        # the call goes back as it came, then its output under the same id
        inp = second['body']['input']
        calls = [i for i in inp if i.get('type') == 'function_call']
        outs = [i for i in inp if i.get('type') == 'function_call_output']
        self.assertEqual([(c['name'], c['call_id']) for c in calls],
                         [('exec_command', 'call_00_0')])
        self.assertEqual([o['call_id'] for o in outs], ['call_00_0'])
        self.assertIn('exited with code 0', str(outs[0]['output']))
        self.assertEqual(self.m.state(tid), 'done')

    def test_real_codex_apply_patch_shows_as_a_write(self):
        # Codex runs an apply_patch heredoc itself, as a file_change item
        patch = ('*** Begin Patch\n*** Add File: src/greeting.txt\n'
                 '+hello from a patch\n*** End Patch\n')
        self.script([
            {'text': 'Patching.', 'tool_calls': [
                {'name': 'exec_command', 'input': {'cmd': "apply_patch <<'EOF'\n%sEOF\n" % patch}}]},
            {'text': 'Added src/greeting.txt.'},
        ])
        tid = self.run_task('add a greeting', 'codex', 'done')
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:src/greeting.txt' % tid),
                         'hello from a patch\n')
        self.assertIn('Patching.\n» Write src/greeting.txt\nAdded src/greeting.txt.\n', self.log(tid))
        out = self.requests_to('/v1/responses')[1]['body']['input'][-1]
        self.assertEqual(out['type'], 'function_call_output')
        self.assertIn('A src/greeting.txt', str(out['output']))

    def test_real_codex_without_its_key_says_what_to_do(self):
        git(self.m.repo, 'config', '--unset-all', 'engine.codex.env', '^' + KEY_ENV + '=')
        self.m.unmount()
        self.m.remount()
        tid = self.run_task('write hello.txt', 'codex', 'failed', timeout=60)
        self.assertEqual(self.m.status(tid).get('reason'),
                         'codex has no API key: set %s, or mount with -o engine=sh' % KEY_ENV)
        self.assertEqual(self.requests_to('/v1/responses'), [])

    def test_real_codex_failed_turn_fails_the_task(self):
        self.script([{'error': {'status': 400, 'type': 'invalid_request_error',
                                'message': 'model pai-test does not exist'}}])
        tid = self.run_task('write hello.txt', 'codex', 'failed')
        # codex passes a 400's body on as JSON: the reason is the message in it
        self.assertEqual(self.m.status(tid).get('reason'), 'model pai-test does not exist (exit 1)')
        log = self.log(tid)
        self.assertEqual(log.count('! error: '), 1, log)
        self.assertIn('! error: model pai-test does not exist\n', log)
        self.assertEqual(len(self.requests_to('/v1/responses')), 1)
        self.assertEqual(self.m.read('tasks/%d/files' % tid).strip(), '')


if __name__ == '__main__':
    paitest.main()
