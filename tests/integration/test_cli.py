#!/usr/bin/python3
"""The command line: what it mounts, and what it refuses with one line."""

import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PAI_BIN, PaiTestCase, make_repo, run, unmount_lazy, wait_for  # noqa: E402


class TestRefusals(PaiTestCase):
    autostart = False

    def refuse(self, argv, mnt=None):
        """Run the daemon expecting a refusal: non-zero, one line, no mount."""
        mnt = mnt or self.m.mnt
        try:
            r = run([PAI_BIN] + argv, timeout=20)
        except subprocess.TimeoutExpired:
            unmount_lazy(mnt)
            self.fail('%s did not refuse: it kept running' % argv)
        mounted = os.path.isdir(mnt) and os.path.ismount(mnt)
        if mounted:
            unmount_lazy(mnt)
        self.assertNotEqual(r.returncode, 0, 'accepted %s' % argv)
        self.assertFalse(mounted, 'mounted despite refusing %s' % argv)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, 'stderr should be one line:\n%s' % r.stderr)
        self.assertEqual(r.stdout, '')
        return lines[0]

    def test_refuses_directory_that_is_not_a_git_repository(self):
        plain = os.path.join(self.tmp, 'plain')
        os.makedirs(plain)
        self.refuse(['-f', plain, self.m.mnt])

    def test_refuses_missing_repository(self):
        self.refuse(['-f', os.path.join(self.tmp, 'nope'), self.m.mnt])

    def test_refuses_repository_without_commit(self):
        fresh = make_repo(os.path.join(self.tmp, 'fresh'), commit=False)
        self.refuse(['-f', fresh, self.m.mnt])

    def test_refuses_missing_mountpoint(self):
        missing = os.path.join(self.tmp, 'no-such-dir')
        self.refuse(['-f', self.m.repo, missing], mnt=missing)
        self.assertFalse(os.path.exists(missing))

    def test_refuses_mountpoint_that_is_not_empty(self):
        with open(os.path.join(self.m.mnt, 'precious'), 'w') as f:
            f.write('keep me\n')
        self.refuse(['-f', self.m.repo, self.m.mnt])
        with open(os.path.join(self.m.mnt, 'precious')) as f:
            self.assertEqual(f.read(), 'keep me\n')

    def test_refuses_unknown_option(self):
        self.refuse(['-f', '-o', 'bogus=1', self.m.repo, self.m.mnt])

    def test_refuses_unknown_option_without_f(self):
        self.refuse(['-o', 'bogus=1', self.m.repo, self.m.mnt])

    def test_refuses_non_numeric_workers(self):
        self.refuse(['-f', '-o', 'workers=abc', self.m.repo, self.m.mnt])

    def test_refuses_zero_workers(self):
        self.refuse(['-f', '-o', 'workers=0', self.m.repo, self.m.mnt])

    def test_refuses_state_dir_in_proc(self):
        self.refuse(['-f', '-o', 'state=/proc/x', self.m.repo, self.m.mnt])

    def test_refuses_state_dir_under_regular_file(self):
        reg = os.path.join(self.tmp, 'regular')
        open(reg, 'w').close()
        self.refuse(['-f', '-o', 'state=%s/sub' % reg, self.m.repo, self.m.mnt])

    def test_refuses_repository_with_worktree_config_extension(self):
        paitest.git(self.m.repo, 'config', 'core.repositoryformatversion', '1')
        paitest.git(self.m.repo, 'config', 'extensions.worktreeConfig', 'true')
        line = self.refuse(['-f', self.m.repo, self.m.mnt])
        self.assertIn('worktreeConfig', line)

    def test_refuses_missing_arguments(self):
        r = run([PAI_BIN], timeout=20)
        self.assertNotEqual(r.returncode, 0)
        r = run([PAI_BIN, self.m.repo], timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.ismount(self.m.mnt))

    def test_help_and_version(self):
        r = run([PAI_BIN, '--help'], timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('workers', r.stdout + r.stderr)
        r = run([PAI_BIN, '--version'], timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout + r.stderr, r'\d+\.\d+')

    def test_refused_mount_leaves_repository_untouched(self):
        before = paitest.git(self.m.repo, 'status', '--porcelain', '--ignored')
        self.refuse(['-f', '-o', 'workers=abc', self.m.repo, self.m.mnt])
        self.assertEqual(paitest.git(self.m.repo, 'status', '--porcelain', '--ignored'), before)
        self.assertEqual(paitest.git(self.m.repo, 'branch', '--list').split(), ['*', 'main'])


class TestStarting(PaiTestCase):
    autostart = False

    def test_without_f_daemonizes_once_mounted(self):
        r = run([PAI_BIN, '-o', 'workers=2', self.m.repo, self.m.mnt], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.ismount(self.m.mnt))
        self.assertEqual(self.m.kv('status').get('workers'), '2')
        tid = self.m.submit('echo daemonized\n')
        self.assertDone(tid)
        pids = paitest.daemon_pids(self.m.mnt)
        self.assertTrue(pids, 'no daemon process names %s' % self.m.mnt)
        r = run(['fusermount3', '-u', self.m.mnt])
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: not any(paitest.pid_alive(p) for p in pids), 30,
                 msg='daemon to exit after unmount')

    def test_options_after_paths(self):
        self.m.start([PAI_BIN, '-f', self.m.repo, self.m.mnt, '-o', 'workers=3'])
        self.assertEqual(self.m.kv('status').get('workers'), '3')
        self.assertEqual(sorted(os.listdir(self.m.path('workers'))), ['1', '2', '3'])

    def test_allow_other_option_is_accepted(self):
        self.m.opts.append('allow_other')
        self.m.start()
        self.assertEqual(self.m.kv('status').get('workers'), '2')
        with open('/proc/self/mounts') as f:
            line = [ln for ln in f if ln.split()[1] == self.m.mnt][0]
        self.assertIn('allow_other', line)

    def test_relative_paths(self):
        self.m.start([PAI_BIN, '-f', '-o', 'workers=1', 'repo', 'mnt'], cwd=self.tmp)
        tid = self.m.submit('echo relative > rel.txt\n')
        self.assertDone(tid)

    def test_default_state_dir_is_in_git_dir(self):
        self.m.start()
        tid = self.m.submit('echo stateful\n')
        self.m.wait_final(tid)
        state = os.path.join(self.m.repo, '.git', 'parallelai')
        for rel in ('state.db', 'events.jsonl', 'logs/%d.log' % tid,
                    'prompts/%d' % tid):
            self.assertTrue(os.path.exists(os.path.join(state, rel)), rel)
        with open(os.path.join(state, 'logs/%d.log' % tid), 'rb') as f:
            self.assertEqual(f.read(), self.m.read_bytes('tasks/%d/log' % tid))
        # worktrees stay out of the git directory, where agent CLIs refuse
        # to edit: under $XDG_DATA_HOME, named after the repository
        wt = os.path.realpath(self.m.path('tasks/%d/worktree' % tid))
        base = os.path.realpath(os.path.join(paitest.XDG_DATA_HOME, 'parallelai', 'worktrees'))
        self.assertEqual(os.path.dirname(os.path.dirname(wt)), base)
        self.assertTrue(os.path.basename(os.path.dirname(wt)).startswith('repo-'), wt)
        self.assertEqual(os.path.basename(wt), str(tid))
        self.assertNotIn('/.git/', wt)
        self.assertEqual(self.m.kv('status')['worktree_dir'], os.path.dirname(wt))

    def test_state_db_is_sqlite_in_wal_mode(self):
        import sqlite3
        self.m.start()
        tid = self.m.submit('true\n')
        self.m.wait_final(tid)
        db = os.path.join(self.m.repo, '.git', 'parallelai', 'state.db')
        con = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=10)
        try:
            self.assertEqual(con.execute('PRAGMA journal_mode').fetchone()[0], 'wal')
            self.assertGreater(con.execute('PRAGMA user_version').fetchone()[0], 0)
            self.assertEqual(con.execute('PRAGMA integrity_check').fetchone()[0], 'ok')
        finally:
            con.close()

    def test_state_option_moves_state(self):
        state = os.path.join(self.tmp, 'elsewhere', 'state')
        self.m.opts.append('state=' + state)
        self.m.start()
        tid = self.m.submit('echo moved\n')
        self.m.wait_final(tid)
        self.assertTrue(os.path.exists(os.path.join(state, 'state.db')))
        self.assertTrue(os.path.exists(os.path.join(state, 'logs/%d.log' % tid)))
        self.assertFalse(os.path.exists(os.path.join(self.m.repo, '.git', 'parallelai', 'state.db')))
        # with state= chosen, worktrees go beside the rest of the state
        self.assertEqual(os.path.realpath(self.m.path('tasks/%d/worktree' % tid)),
                         os.path.realpath(os.path.join(state, 'worktrees', str(tid))))

    def test_worktrees_option_moves_worktrees(self):
        wts = os.path.join(self.tmp, 'wt here')
        self.m.opts.append('worktrees=' + wts)
        self.m.start()
        tid = self.m.submit('echo placed > placed.txt\n')
        self.assertEqual(self.m.wait_final(tid), 'done')
        wt = os.path.join(os.path.realpath(wts), str(tid))
        self.assertEqual(os.path.realpath(self.m.path('tasks/%d/worktree' % tid)), wt)
        self.assertTrue(os.path.exists(os.path.join(wt, 'placed.txt')))


if __name__ == '__main__':
    paitest.main()
