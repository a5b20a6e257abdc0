#!/usr/bin/python3
"""Secrets: an engine's environment is an allow-list, so an sh task does not
see the API keys of the daemon's environment (`env` proves it), and the
values of the secrets the daemon knows (keys from its environment and its
config) are written to disk as [redacted]: a task that prints one, even in
two pieces, leaves it nowhere in the mount or the state directory.
"""

import json
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import paitest  # noqa: E402
from paitest import git  # noqa: E402
from test_sandbox import SandboxCase  # noqa: E402

ENV_KEY = 'sk-ant-fake-%d-daemon-env-key' % os.getpid()
ENV_TOKEN = 'ghp_fake%dTOKENfromtheenv' % os.getpid()
CONF_KEY = 'cfg-secret-%d-0123456789abcdef' % os.getpid()
PASSED = 'passed-%d-through-on-purpose' % os.getpid()


class TestSecrets(SandboxCase):

    def prepare_repo(self, repo):
        for name, value in (('ANTHROPIC_API_KEY', ENV_KEY), ('GH_TOKEN', ENV_TOKEN),
                            ('PAI_TEST_SERVICE_KEY', None), ('MY_SERVICE_KEY', PASSED)):
            old = os.environ.get(name)
            if value is None:
                continue
            os.environ[name] = value
            self.addCleanup(lambda n=name, o=old: os.environ.pop(n) if o is None
                            else os.environ.__setitem__(n, o))
        git(repo, 'config', 'engine.sh.env', 'DEPLOY_TOKEN=' + CONF_KEY)
        git(repo, 'config', 'engine.shpass.command', '/bin/sh -c {prompt}')
        git(repo, 'config', 'engine.shpass.passEnv', 'MY_SERVICE_KEY')

    def everywhere(self, needle):
        """Every file of the mount and of the state directory holding needle."""
        found = []
        data = needle.encode()
        for root in (self.m.mnt, os.path.join(self.m.repo, '.git', 'parallelai')):
            for dirpath, dirnames, files in os.walk(root):
                # worktrees are the engines' own; the mount's holds the same
                dirnames[:] = [d for d in dirnames if d != 'worktrees']
                for name in files:
                    if name in ('new', 'ctl'):
                        continue
                    path = os.path.join(dirpath, name)
                    try:
                        with open(path, 'rb') as f:
                            if data in f.read():
                                found.append(path)
                    except OSError:
                        pass
        return found

    def test_env_in_an_sh_task_shows_no_api_key_of_the_daemon(self):
        tid = self.m.submit('env\n')
        self.assertDone(tid)
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('PATH=', log)
        self.assertIn('PAI_TASK_ID=%d' % tid, log)
        for name in ('ANTHROPIC_API_KEY', 'GH_TOKEN', 'MY_SERVICE_KEY'):
            self.assertNotIn(name + '=', log)
        for secret in (ENV_KEY, ENV_TOKEN, PASSED):
            self.assertNotIn(secret, log)
            self.assertEqual(self.everywhere(secret), [])

    def test_a_configured_key_echoed_by_a_task_is_redacted_even_in_two_pieces(self):
        half = len(CONF_KEY) // 2
        prompt = ('echo "key: $DEPLOY_TOKEN"\n'
                  "printf '%%s' '%s'; sleep 0.3; printf '%%s\\n' '%s'\n"
                  % (CONF_KEY[:half], CONF_KEY[half:]))
        tid = self.m.submit(prompt)
        self.assertDone(tid)
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('key: [redacted]\n', log)
        self.assertIn('\n[redacted]\n', log)
        self.assertNotIn(CONF_KEY, log)
        self.assertEqual(self.everywhere(CONF_KEY), [])

    def test_a_key_of_the_daemon_printed_by_a_task_is_redacted(self):
        # the task cannot read it, but may have it from elsewhere; the
        # prompt holds it in two pieces only
        tid = self.m.submit('echo "found %s""%s"\n' % (ENV_KEY[:10], ENV_KEY[10:]))
        self.assertDone(tid)
        self.assertIn('found [redacted]\n', self.m.read('tasks/%d/log' % tid))
        self.assertEqual(self.everywhere(ENV_KEY), [])

    def test_pass_env_hands_a_named_variable_to_its_engine(self):
        tid = self.m.submit(json.dumps({
            'prompt': 'test "$MY_SERVICE_KEY" = "%s" && echo present; '
                      'test -z "$ANTHROPIC_API_KEY" && echo no-anthropic-key' % PASSED,
            'engine': 'shpass'}))
        self.assertDone(tid)
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('present\n', log)
        self.assertIn('no-anthropic-key\n', log)


if __name__ == '__main__':
    paitest.main()
