#!/usr/bin/python3
"""Who may use the mount: its owner and root; with allow_other, others
only where the mount names them (allow_users=, allow_group=); and the
state directory private to the owner.

The other user is `nobody` (uid 65534), reached with setpriv, as root.
"""

import os
import stat
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, run, wait_for  # noqa: E402

NOBODY = 65534
PROBE = r'''
import errno, os, sys
op, path = sys.argv[1], sys.argv[2]
try:
    if op == 'write':
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, sys.argv[3].encode())
        os.close(fd)
        print('ok')
    elif op == 'read':
        with open(path, 'rb') as f:
            sys.stdout.write(f.read().decode('utf-8', 'replace'))
    elif op == 'list':
        print('\n'.join(sorted(os.listdir(path))))
    elif op == 'stat':
        print(oct(os.stat(path).st_mode))
except OSError as e:
    print('ERRNO', errno.errorcode[e.errno])
'''


def as_user(uid, gid, *args):
    """Run the probe as another user (no supplementary groups)."""
    r = run(['setpriv', '--reuid=%d' % uid, '--regid=%d' % gid, '--clear-groups',
             'python3', '-c', PROBE] + list(args))
    if r.returncode != 0:
        raise AssertionError('probe failed: %s' % r.stderr)
    return r.stdout


def open_up(tmp):
    """The test's directories are 0700: let other users reach the mount,
    so that what refuses them is the daemon, not the path."""
    os.chmod(tmp, 0o755)


class SharedMountCase(PaiTestCase):
    autostart = False

    def setUp(self):
        if os.getuid() != 0:
            self.skipTest('needs root to act as another user')
        super().setUp()
        open_up(self.tmp)
        self.m.start()

    def nobody(self, *args, gid=NOBODY):
        return as_user(NOBODY, gid, *args)


class TestAllowOtherAlone(SharedMountCase):
    mount_opts = ('allow_other',)

    def test_another_user_cannot_submit(self):
        out = self.nobody('write', self.m.path('tasks/new'), 'id > who.txt\n')
        self.assertEqual(out.strip(), 'ERRNO EACCES')
        self.assertEqual(self.m.task_ids(), [])
        refused = [e for e in self.refused_events() if 'uid %d' % NOBODY in e.get('reason', '')]
        self.assertTrue(refused, self.m.read('events'))

    def test_another_user_cannot_command(self):
        tid = self.m.submit('sleep 30\n')
        self.m.wait_state(tid, 'running')
        for rel in ('ctl', 'tasks/%d/ctl' % tid):
            cmd = 'cancel %d\n' % tid if rel == 'ctl' else 'cancel\n'
            out = self.nobody('write', self.m.path(rel), cmd)
            self.assertEqual(out.strip(), 'ERRNO EACCES', rel)
        self.assertEqual(self.m.state(tid), 'running')
        self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n')

    def test_another_user_cannot_read_task_files(self):
        tid = self.m.submit('echo secret-output\n')
        self.assertDone(tid)
        for name in ('log', 'prompt', 'diff', 'status', 'task.json'):
            out = self.nobody('read', self.m.path('tasks/%d/%s' % (tid, name)))
            self.assertEqual(out.strip(), 'ERRNO EACCES', name)
        for rel in ('events', 'status', 'workers/1/log'):
            self.assertEqual(self.nobody('read', self.m.path(rel)).strip(), 'ERRNO EACCES', rel)
        self.assertEqual(self.nobody('list', self.m.path('tasks')).strip(), 'ERRNO EACCES')

    def test_another_user_may_read_the_readme_and_list_the_root(self):
        self.assertIn('tasks/new', self.nobody('read', self.m.path('README')))
        self.assertIn('tasks', self.nobody('list', self.m.mnt).split())

    def test_modes_say_the_files_are_the_owners(self):
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        for rel, mode in (('tasks/new', 0o600), ('ctl', 0o600), ('status', 0o400),
                          ('tasks/%d/log' % tid, 0o400), ('tasks/%d/ctl' % tid, 0o600),
                          ('tasks', 0o700), ('tasks/%d' % tid, 0o500),
                          ('README', 0o444)):
            st = os.stat(self.m.path(rel))
            self.assertEqual(stat.S_IMODE(st.st_mode), mode, rel)
            self.assertEqual(st.st_uid, os.getuid(), rel)


class TestAllowUsers(SharedMountCase):
    mount_opts = ('allow_users=nobody',)

    def test_a_named_user_submits_and_the_task_runs_as_the_owner(self):
        out = self.nobody('write', self.m.path('tasks/new'), 'id -u > who.txt; id -u\n')
        self.assertEqual(out.strip(), 'ok')
        wait_for(lambda: self.m.task_ids(), 10, msg='the task to exist')
        tid = self.m.task_ids()[0]
        self.assertDone(tid)
        # the task ran as the mounting user, which is why this is opt-in
        self.assertIn('%d\n' % os.getuid(), self.nobody('read', self.m.path('tasks/%d/log' % tid)))

    def test_users_not_named_are_still_refused(self):
        out = as_user(NOBODY - 1, NOBODY - 1, 'write', self.m.path('tasks/new'), 'true\n')
        self.assertEqual(out.strip(), 'ERRNO EACCES')
        self.assertEqual(self.m.task_ids(), [])


class TestAllowGroup(SharedMountCase):

    @property
    def mount_opts(self):
        return ('allow_group=%d' % NOBODY,)

    def test_members_may_submit_others_may_not(self):
        self.assertEqual(self.nobody('write', self.m.path('tasks/new'), 'true\n').strip(), 'ok')
        out = as_user(NOBODY, 100, 'write', self.m.path('tasks/new'), 'true\n')
        self.assertEqual(out.strip(), 'ERRNO EACCES')
        self.assertEqual(len(self.m.task_ids()), 1)

    def test_group_bits_and_group_show_it(self):
        st = os.stat(self.m.path('tasks/new'))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_gid, NOBODY)


class TestOptions(PaiTestCase):
    autostart = False

    def test_unknown_user_is_refused_before_mounting(self):
        r = run([paitest.PAI_BIN, '-o', 'allow_users=no-such-user-xyz', self.m.repo, self.m.mnt])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown user 'no-such-user-xyz'", r.stderr)
        self.assertFalse(os.path.ismount(self.m.mnt))

    def test_several_users_by_comma_or_colon(self):
        for opt in ('allow_users=nobody,root', 'allow_users=nobody:root'):
            r = run([paitest.PAI_BIN, '-f', '-o', opt + ',mergeStrategy=bogus',
                     self.m.repo, self.m.mnt])
            self.assertIn("invalid value for 'mergestrategy'", r.stderr, opt)


class TestStateIsPrivate(PaiTestCase):

    def test_state_directory_is_the_owners_alone(self):
        tid = self.m.submit('echo hello\n')
        self.assertDone(tid)
        state = self.m.kv('status')['state_dir']
        self.assertEqual(stat.S_IMODE(os.stat(state).st_mode), 0o700)
        seen = 0
        for root, dirs, files in os.walk(state):
            for d in dirs:
                p = os.path.join(root, d)
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode) & 0o077, 0, p)
            for f in files:
                p = os.path.join(root, f)
                self.assertEqual(stat.S_IMODE(os.lstat(p).st_mode) & 0o077, 0, p)
                seen += 1
        self.assertGreater(seen, 3)

    def test_an_old_open_state_directory_is_closed(self):
        self.m.shutdown()
        state = os.path.join(self.m.repo, '.git', 'parallelai')
        os.chmod(state, 0o755)
        self.m.start()
        self.assertEqual(stat.S_IMODE(os.stat(state).st_mode), 0o700)


if __name__ == '__main__':
    paitest.main()
