#!/usr/bin/python3
"""The sandbox around every run (bubblewrap): an sh task cannot write into
the user's checkout, another task's worktree, the user's home, /etc or the
state database, yet commits its own work onto its branch and cannot push
to main; network=none does not reach a loopback server; cancel, timeout
and kill -9 of the daemon still end a sandboxed engine that ignores
SIGTERM; sandbox=bwrap without a working bubblewrap is refused at mount;
the built-in agent completes inside.

The repositories live outside /tmp: the sandbox puts a tmpfs on /tmp, and
a write there to a path not bound would vanish instead of failing
(FACTS.md), which would make "nothing changed" prove nothing.
"""

import json
import os
import socket
import stat
import sys
import tempfile
import threading

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import paitest  # noqa: E402
from paitest import Mount, PaiTestCase, HarnessError, git, wait_for  # noqa: E402
from llm_server import LLMServer  # noqa: E402

OUTSIDE_TMP = '/var/tmp'


def procs_with(entry):
    """Pids whose environment holds the entry "KEY=VALUE"."""
    want = entry.encode()
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/environ' % name, 'rb') as f:
                env = f.read().split(b'\0')
        except OSError:
            continue
        if want in env:
            found.append(int(name))
    return found


class SandboxCase(PaiTestCase):
    """A mount whose repository, worktrees and state are outside /tmp."""
    extra_opts = ()

    def setUp(self):
        if not paitest.shutil.which('bwrap'):
            self.fail('bubblewrap (bwrap) is not installed: contrib/install-deps installs it')
        self.tmp = tempfile.mkdtemp(prefix='pai-sbx-', dir=OUTSIDE_TMP)
        opts = ('worktrees=' + os.path.join(self.tmp, 'wt'),) + tuple(self.extra_opts)
        self.m = Mount(self.tmp, workers=self.workers, opts=opts)
        self.addCleanup(self.m.cleanup)
        self.addCleanup(self.finish_mount)
        self.prepare_repo(self.m.repo)
        if self.autostart:
            self.m.start()

    def spec(self, prompt, **kw):
        kw['prompt'] = prompt
        return self.m.submit(json.dumps(kw))

    def log(self, tid):
        return self.m.read('tasks/%d/log' % tid)


class TestConfinement(SandboxCase):

    def test_writes_outside_fail_nothing_changes_and_own_commit_lands(self):
        repo = self.m.repo
        other = self.m.submit('echo mine > mine.txt\n')
        self.assertDone(other)
        other_wt = self.m.status(other)['worktree']
        user_home_x = os.path.join(os.path.expanduser('~'), 'pai-sbx-%d' % os.getpid())
        etc_x = '/etc/pai-sbx-%d' % os.getpid()
        db = os.path.join(repo, '.git', 'parallelai', 'state.db')
        main_before = git(repo, 'rev-parse', 'refs/heads/main').strip()
        other_before = git(repo, 'rev-parse', 'refs/heads/pai/task-%d' % other).strip()
        with open(os.path.join(repo, 'README.md')) as f:
            readme = f.read()
        script = '\n'.join([
            'try() { if sh -c "$1" 2>/dev/null; then echo "WROTE: $2"; '
            'else echo "refused: $2"; fi; }',
            "try 'echo x > ../../escape' up-two",
            "try 'echo x > %s/escape' checkout" % repo,
            "try 'echo x >> %s/README.md' checkout-file" % repo,
            "try 'echo x > %s/mine.txt' other-worktree" % other_wt,
            "try 'echo x > %s' user-home" % user_home_x,
            "try 'echo x > %s' etc" % etc_x,
            "try 'echo SANDBOX-MARK >> %s' state-db" % db,
            "try 'git update-ref refs/heads/pai/task-%d HEAD' other-branch" % other,
            "try 'echo echo spawned > %s/tasks/new' mount-new" % self.m.mnt,
            "try 'echo pause > %s/ctl' mount-ctl" % self.m.mnt,
            "try 'echo x > $HOME/x' own-home",
            "try 'echo x > /tmp/x' own-tmp",
            'echo work > own.txt && git add own.txt && '
            "git commit -q -m 'own work' && echo committed",
            'git push . HEAD:refs/heads/main 2>&1 && echo PUSHED || echo push-refused',
            'true',
        ]) + '\n'
        tid = self.m.submit(script)
        self.assertDone(tid)
        log = self.log(tid)
        for what in ('up-two', 'checkout', 'checkout-file', 'other-worktree',
                     'user-home', 'etc', 'state-db', 'other-branch', 'mount-new',
                     'mount-ctl'):
            self.assertIn('refused: %s\n' % what, log, log)
        # its own home and tmp are its to write
        self.assertIn('WROTE: own-home\n', log, log)
        self.assertIn('WROTE: own-tmp\n', log, log)
        self.assertIn('committed\n', log, log)
        self.assertIn('push-refused\n', log, log)
        self.assertNotIn('PUSHED', log)
        # nothing outside changed
        self.assertFalse(os.path.exists(os.path.join(self.tmp, 'escape')))
        self.assertFalse(os.path.exists(os.path.join(repo, 'escape')))
        with open(os.path.join(repo, 'README.md')) as f:
            self.assertEqual(f.read(), readme)
        with open(os.path.join(other_wt, 'mine.txt')) as f:
            self.assertEqual(f.read(), 'mine\n')
        self.assertFalse(os.path.exists(user_home_x))
        self.assertFalse(os.path.exists(etc_x))
        with open(db, 'rb') as f:
            self.assertNotIn(b'SANDBOX-MARK', f.read())
        self.assertEqual(git(repo, 'rev-parse', 'refs/heads/main').strip(), main_before)
        self.assertEqual(git(repo, 'rev-parse', 'refs/heads/pai/task-%d' % other).strip(),
                         other_before)
        self.assertEqual(self.m.task_ids(), [other, tid])
        self.assertEqual(self.m.kv('status').get('state'), 'running')
        # its own commit is on its branch, and the worktree on the branch again
        branch = 'pai/task-%d' % tid
        subjects = git(repo, 'log', '--format=%s', branch).splitlines()
        self.assertIn('own work', subjects)
        self.assertEqual(git(repo, 'show', '%s:own.txt' % branch), 'work\n')
        wt = self.m.status(tid)['worktree']
        self.assertEqual(git(wt, 'symbolic-ref', 'HEAD').strip(), 'refs/heads/' + branch)
        st = self.m.status(tid)
        self.assertEqual(st.get('sandbox'), 'bwrap', st)
        self.assertEqual(self.m.kv('status').get('sandbox'), 'bwrap')

    def test_a_run_that_points_head_at_main_cannot_make_the_daemon_commit_there(self):
        repo = self.m.repo
        main_before = git(repo, 'rev-parse', 'refs/heads/main').strip()
        tid = self.m.submit('git symbolic-ref HEAD refs/heads/main; echo new > new.txt\n')
        self.assertDone(tid)
        self.assertEqual(git(repo, 'rev-parse', 'refs/heads/main').strip(), main_before)
        self.assertEqual(git(repo, 'show', 'pai/task-%d:new.txt' % tid), 'new\n')

    def test_cancel_gives_a_sandboxed_engine_its_time_to_clean_up(self):
        # SIGTERM is the engine's: bubblewrap's own process must not die
        # of it and take the sandbox down before the engine has finished
        tid = self.m.submit("trap 'sleep 0.2; echo cleaned up; exit 3' TERM; "
                            "echo started; sleep 300\n")
        wait_for(lambda: 'started' in self.log(tid), 30, msg='the engine to start')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')
        self.assertIn('cleaned up\n', self.log(tid))

    def test_home_and_tmp_are_the_tasks_own_and_go_with_its_prune(self):
        tid = self.m.submit('echo t > $TMPDIR/t; echo h > $HOME/h; echo "$HOME $TMPDIR"; '
                            'echo z > a.txt\n')
        self.assertDone(tid)
        box = os.path.join(self.m.repo, '.git', 'parallelai', 'box', str(tid))
        self.assertIn('%s/home %s/tmp' % (box, box), self.log(tid))
        with open(os.path.join(box, 'tmp', 't')) as f:
            self.assertEqual(f.read(), 't\n')
        self.assertEqual(self.m.ctl('ctl', 'merge %d\n' % tid), 0)
        self.assertEqual(self.m.ctl('ctl', 'prune %d\n' % tid), 0)
        self.assertFalse(os.path.exists(box))

    def test_sandbox_none_for_a_task_runs_it_outside_and_says_why(self):
        tid = self.spec('echo x > %s/escape-none\n' % self.tmp, sandbox='none')
        self.assertDone(tid)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, 'escape-none')))
        st = self.m.status(tid)
        self.assertEqual(st.get('sandbox'), 'none')
        self.assertIn("task's", st.get('sandbox_reason', ''))


class LoopbackServer:
    """Accepts connections on 127.0.0.1 and answers "hello"."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.sendall(b'hello\n')
            conn.close()

    def stop(self):
        self.sock.close()


PROBE = ('python3 -c "import socket\n'
         'try:\n'
         '    s = socket.create_connection((\'127.0.0.1\', %d), 5)\n'
         '    print(\'CONNECTED\', s.recv(16))\n'
         'except OSError as e:\n'
         '    print(\'UNREACHABLE\', e)"\n')


class TestNetwork(SandboxCase):

    def test_network_none_cannot_reach_a_loopback_server(self):
        srv = LoopbackServer()
        self.addCleanup(srv.stop)
        probe = PROBE % srv.port
        on = self.spec(probe)
        none = self.spec(probe, network='none')
        loop = self.spec(probe, network='loopback')
        for tid in (on, none, loop):
            self.assertDone(tid)
        self.assertIn('CONNECTED', self.log(on))
        self.assertIn('UNREACHABLE', self.log(none))
        self.assertNotIn('CONNECTED', self.log(none))
        self.assertIn('UNREACHABLE', self.log(loop))
        self.assertEqual(self.m.status(none).get('network'), 'none')
        self.assertEqual(self.m.status(on).get('network'), 'on')

    def test_network_none_without_a_sandbox_fails_the_task_saying_why(self):
        tid = self.spec('echo ran\n', network='none', sandbox='none')
        self.assertEqual(self.m.wait_final(tid), 'failed')
        reason = self.m.status(tid).get('reason', '')
        self.assertIn('network=none', reason)
        self.assertIn('needs the sandbox', reason)
        self.assertNotIn('ran', self.log(tid))


class TestEndingSandboxedRuns(SandboxCase):
    extra_opts = ('killGrace=300',)

    def stubborn(self, mark, **kw):
        """An engine (and its child) that ignore SIGTERM and sleep."""
        env = {'PAI_SBX_MARK': mark}
        return self.spec("trap '' TERM; echo started; sleep 300; echo never\n", env=env, **kw)

    def running(self, tid, mark):
        wait_for(lambda: 'started' in self.log(tid), 30, msg='the engine to start')
        self.assertTrue(procs_with('PAI_SBX_MARK=' + mark))
        self.assertEqual(self.m.status(tid).get('sandbox'), 'bwrap')

    def assertAllGone(self, mark, what):
        wait_for(lambda: not procs_with('PAI_SBX_MARK=' + mark), 30,
                 msg='every process of the run to end on %s' % what)

    def test_cancel_ends_a_sandboxed_engine_that_ignores_sigterm(self):
        mark = 'cancel-%d' % os.getpid()
        tid = self.stubborn(mark)
        self.running(tid, mark)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.assertEqual(self.m.wait_final(tid, 30), 'cancelled')
        self.assertAllGone(mark, 'cancel')
        self.assertNotIn('never', self.log(tid))

    def test_timeout_ends_a_sandboxed_engine_that_ignores_sigterm(self):
        mark = 'timeout-%d' % os.getpid()
        tid = self.stubborn(mark, timeout=1)
        self.running(tid, mark)
        self.assertEqual(self.m.wait_final(tid, 30), 'failed')
        self.assertEqual(self.m.status(tid).get('reason'), 'timeout: killed after 1 s')
        self.assertAllGone(mark, 'timeout')

    def test_unmount_with_a_sandboxed_run_going_requeues_it_and_exits(self):
        # the sandbox's mount namespace holds a copy of the mount, which
        # an unmount does not reach where / is private (this machine):
        # the daemon must notice the unmount by itself
        mark = 'unmount-%d' % os.getpid()
        tid = self.stubborn(mark)
        self.running(tid, mark)
        self.m.unmount()
        self.assertAllGone(mark, 'the unmount')
        self.m.remount()
        self.assertEqual([e.get('reason') for e in self.m.events_of('requeued', tid)],
                         ['stopped by unmount'])

    def test_kill_9_of_the_daemon_with_sandboxed_runs_then_remount(self):
        gate = os.path.join(self.tmp, 'gate')
        mark = 'kill9-%d' % os.getpid()
        prompt = ('if [ -e %s ]; then echo second > second.txt; exit 0; fi; '
                  "trap '' TERM; echo started; sleep 300\n" % gate)
        tids = [self.spec(prompt, env={'PAI_SBX_MARK': mark}) for _ in range(2)]
        for tid in tids:
            wait_for(lambda: 'started' in self.log(tid), 30, msg='task %d to start' % tid)
        self.assertEqual(len(procs_with('PAI_SBX_MARK=' + mark)) >= 2, True)
        self.m.kill9()
        # the keepers outlive the daemon by a second, then end their runs
        self.assertAllGone(mark, 'the daemon\'s kill -9')
        open(gate, 'w').close()
        self.m.remount()
        for tid in tids:
            self.assertDone(tid)
            branch = 'pai/task-%d' % tid
            self.assertEqual(git(self.m.repo, 'show', branch + ':second.txt'), 'second\n')
            wt = self.m.status(tid)['worktree']
            self.assertEqual(git(wt, 'symbolic-ref', 'HEAD').strip(), 'refs/heads/' + branch)


class TestWithoutBubblewrap(SandboxCase):
    autostart = False

    def refused(self, env=None):
        with self.assertRaises(HarnessError) as cm:
            self.m.start(env=env)
        self.assertFalse(os.path.ismount(self.m.mnt))
        return str(cm.exception)

    def test_sandbox_bwrap_where_bwrap_is_missing_is_refused_at_mount(self):
        self.m.opts += ['sandbox=bwrap', 'bwrap=/nonexistent/bwrap']
        msg = self.refused()
        self.assertIn("sandbox=bwrap: bubblewrap not found at '/nonexistent/bwrap'", msg)
        self.assertIn('apt-get install bubblewrap', msg)

    def test_sandbox_bwrap_with_no_bwrap_on_path_is_refused_at_mount(self):
        self.m.opts += ['sandbox=bwrap']
        env = dict(os.environ, PATH=os.path.join(self.tmp, 'empty-bin'))
        msg = self.refused(env)
        self.assertIn('sandbox=bwrap: bubblewrap (bwrap) is not installed', msg)

    def test_sandbox_bwrap_with_a_broken_bwrap_is_refused_at_mount(self):
        fake = os.path.join(self.tmp, 'bwrap')
        with open(fake, 'w') as f:
            f.write('#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n')
        os.chmod(fake, 0o755)
        self.m.opts += ['sandbox=bwrap', 'bwrap=' + fake]
        msg = self.refused()
        self.assertIn('does not work here: bwrap: No permissions to create new namespace', msg)

    def test_auto_without_bwrap_runs_outside_and_says_why(self):
        self.m.opts += ['bwrap=/nonexistent/bwrap']
        self.m.start()
        st = self.m.kv('status')
        self.assertEqual(st.get('sandbox'), 'none')
        self.assertIn('not found', st.get('sandbox_reason', ''))
        tid = self.m.submit('echo x > %s/outside\n' % self.tmp)
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('sandbox'), 'none')
        self.assertTrue(os.path.exists(os.path.join(self.tmp, 'outside')))

    def test_a_task_asking_for_bwrap_where_it_does_not_work_fails_saying_why(self):
        self.m.opts += ['bwrap=/nonexistent/bwrap']
        self.m.start()
        tid = self.spec('echo ran\n', sandbox='bwrap')
        self.assertEqual(self.m.wait_final(tid), 'failed')
        self.assertIn("sandbox=bwrap (the task's setting): bubblewrap not found",
                      self.m.status(tid).get('reason', ''))


KEY_ENV = 'PAI_TEST_SANDBOX_KEY'
KEY = 'sk-pai-sandbox-test-0123456789'


class TestAgentInSandbox(SandboxCase):

    def prepare_repo(self, repo):
        self.srv = LLMServer({'turns': [
            {'text': 'Writing hello.txt.',
             'tool_calls': [{'name': 'write_file',
                             'input': {'path': 'hello.txt', 'content': 'hi\n'}}]},
            {'text': 'Done.'}]}).start()
        self.addCleanup(self.srv.stop)
        os.environ[KEY_ENV] = KEY
        self.addCleanup(os.environ.pop, KEY_ENV)
        git(repo, 'config', 'engine.anthropic.baseUrl', self.srv.url)
        git(repo, 'config', 'engine.anthropic.apiKeyEnv', KEY_ENV)
        git(repo, 'config', 'parallelai.sandbox', 'bwrap')

    def test_builtin_agent_completes_its_loopback_task_inside(self):
        tid = self.spec('write hello.txt', engine='anthropic')
        self.assertDone(tid)
        st = self.m.status(tid)
        self.assertEqual(st.get('sandbox'), 'bwrap')
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:hello.txt' % tid), 'hi\n')
        self.assertEqual(self.m.read('tasks/%d/result' % tid).strip(), 'Done.')
        # its raw stream and result were written through the sandbox
        raw = os.path.join(self.m.repo, '.git', 'parallelai', 'logs', '%d.jsonl' % tid)
        self.assertTrue(os.path.getsize(raw) > 0)
        self.assertEqual(stat.S_IMODE(os.stat(raw).st_mode), 0o600)


if __name__ == '__main__':
    paitest.main()
