#!/usr/bin/python3
"""Bad input is refused with a fitting errno, leaves nothing behind, and is
recorded in events."""

import errno
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, run, sh  # noqa: E402

MIB = 1 << 20


def tree(root):
    out = []
    for r, dirs, files in os.walk(root):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(r, n), root))
    return sorted(out)


class TestBadPrompts(PaiTestCase):

    def assertRefusedPrompt(self, data, *errnos):
        before_events = len(self.refused_events())
        self.assertErrno(self.m.try_new(data), *errnos)
        self.assertEqual(self.m.task_ids(), [])
        refused = self.refused_events()
        self.assertEqual(len(refused), before_events + 1, refused)
        self.assertTrue(refused[-1].get('reason'), refused[-1])
        # nothing half-done: no prompt file, no branch, no worktree
        state = os.path.join(self.m.repo, '.git', 'parallelai')
        dirs = [os.path.join(state, sub) for sub in ('prompts', 'logs', 'results')]
        dirs.append(self.m.kv('status')['worktree_dir'])
        for d in dirs:
            self.assertEqual(os.listdir(d) if os.path.isdir(d) else [], [], d)
        self.assertEqual(paitest.git(self.m.repo, 'branch', '--list', 'pai/*'), '')

    def test_empty_prompt_is_einval(self):
        self.assertRefusedPrompt(b'', errno.EINVAL)

    def test_whitespace_prompt_is_einval(self):
        self.assertRefusedPrompt(b' \n\t \n\n', errno.EINVAL)

    def test_echo_of_empty_line_makes_no_task(self):
        # the shell ignores the error of its own close(); no task is the point
        sh('echo > %s/tasks/new' % self.m.mnt)
        self.assertEqual(self.m.task_ids(), [])
        self.assertTrue(self.refused_events())

    def test_bash_echo_of_a_bad_spec_says_so(self):
        # bash ignores close()'s error: the spec is judged at its write()
        r = run(['bash', '-c', 'echo \'{"prompt": "x", "bogus": 1}\' > %s/tasks/new' % self.m.mnt])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('write error: Invalid argument', r.stderr)
        self.assertEqual(self.m.task_ids(), [])
        self.assertIn('bogus', self.refused_events()[-1]['reason'])
        self.assertEqual(len(self.refused_events()), 1)

    def test_bash_echo_of_a_blank_prompt_says_so(self):
        r = run(['bash', '-c', 'echo "  " > %s/tasks/new' % self.m.mnt])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('Invalid argument', r.stderr)
        self.assertEqual(self.m.task_ids(), [])

    def test_bash_echo_of_a_bad_plan_spec_says_so(self):
        r = run(['bash', '-c', 'echo \'{"request": "x", "bogus": 1}\' > %s/plans/new' % self.m.mnt])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('Invalid argument', r.stderr)
        self.assertEqual([n for n in os.listdir(self.m.path('plans')) if n != 'new'], [])

    def test_bash_echo_of_a_good_spec_makes_the_task(self):
        r = run(['bash', '-c', 'echo \'{"prompt": "true"}\' > %s/tasks/new' % self.m.mnt])
        self.assertEqual((r.returncode, r.stderr), (0, ''))
        self.assertEqual(self.m.task_ids(), [1])

    def test_a_spec_in_pieces_is_judged_at_the_write_that_ends_it(self):
        fd = os.open(self.m.path('tasks/new'), os.O_WRONLY | os.O_TRUNC)
        os.write(fd, b'{"prompt": ')
        with self.assertRaises(OSError) as cm:
            os.write(fd, b'"true", "bogus": 1}')
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with self.assertRaises(OSError) as cm:
            os.close(fd)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertEqual(self.m.task_ids(), [])
        self.assertEqual(len(self.refused_events()), 1)

    def test_coreutils_echo_of_empty_line_fails(self):
        # coreutils checks the close of its stdout and reports the error
        r = sh('/bin/echo "   " > %s/tasks/new' % self.m.mnt)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('nvalid argument', r.stderr)
        self.assertEqual(self.m.task_ids(), [])

    def test_prompt_of_exactly_1_mib_is_accepted(self):
        data = b'#' * (MIB - 1) + b'\n'
        self.assertEqual(self.m.try_new(data), 0)
        ids = self.m.task_ids()
        self.assertEqual(len(ids), 1)
        self.assertEqual(self.m.read_bytes('tasks/%d/prompt' % ids[0]), data)

    def test_oversized_prompt_is_efbig(self):
        self.assertRefusedPrompt(b'#' * (MIB + 1), errno.EFBIG)

    def test_much_oversized_prompt_is_efbig(self):
        self.assertRefusedPrompt(b'echo x\n' * (3 * MIB // 7), errno.EFBIG)

    def test_nul_byte_is_einval(self):
        self.assertRefusedPrompt(b'echo a\0b\n', errno.EINVAL)

    def test_json_spec_with_unknown_engine_is_einval(self):
        self.assertRefusedPrompt(b'{"prompt": "echo x", "engine": "no-such-engine"}', errno.EINVAL)

    def test_malformed_json_spec_is_einval(self):
        self.assertRefusedPrompt(b'{"prompt": "echo x", ', errno.EINVAL)

    def test_json_spec_with_empty_prompt_is_einval(self):
        self.assertRefusedPrompt(b'{"prompt": "  ", "engine": "sh"}', errno.EINVAL)

    def test_good_prompt_after_refusals_still_works(self):
        self.m.try_new(b'')
        self.m.try_new(b'a\0')
        tid = self.m.submit('echo fine\n')
        self.assertDone(tid)


class TestReadOnlyTree(PaiTestCase):

    def setUp(self):
        super().setUp()
        self.tid = self.m.submit('echo hi > hi.txt\n')
        self.m.wait_final(self.tid)

    def test_writing_read_only_files_is_eacces(self):
        for rel in ('README', 'status', 'status.json', 'events',
                    'tasks/%d/prompt' % self.tid, 'tasks/%d/status' % self.tid,
                    'tasks/%d/log' % self.tid, 'tasks/%d/diff' % self.tid,
                    'tasks/%d/files' % self.tid, 'tasks/%d/task.json' % self.tid,
                    'workers/1/status', 'workers/1/log'):
            # status ticks (uptime); events grows by the refusals themselves
            before = self.m.read_bytes(rel) if rel not in ('status', 'status.json', 'events') else None
            for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND, os.O_WRONLY | os.O_TRUNC):
                try:
                    fd = os.open(self.m.path(rel), flags)
                except OSError as e:
                    self.assertErrno(e.errno, errno.EACCES)
                else:
                    os.close(fd)
                    self.fail('%s opened for writing (flags %o)' % (rel, flags))
            if before is not None:
                self.assertEqual(self.m.read_bytes(rel), before, rel)

    def test_refused_write_is_recorded_in_events(self):
        before = len(self.refused_events())
        with self.assertRaises(OSError):
            os.open(self.m.path('tasks/%d/status' % self.tid), os.O_WRONLY)
        refused = self.refused_events()
        self.assertEqual(len(refused), before + 1, refused)
        self.assertTrue(refused[-1].get('reason'))

    def test_shell_redirect_into_status_fails(self):
        r = sh('echo x > %s/status' % self.m.mnt)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('ermission denied', r.stderr)

    def test_truncating_a_read_only_file_is_refused(self):
        rel = 'tasks/%d/log' % self.tid
        before = self.m.read_bytes(rel)
        with self.assertRaises(OSError) as cm:
            os.truncate(self.m.path(rel), 0)
        self.assertErrno(cm.exception.errno, errno.EACCES, errno.EPERM)
        self.assertEqual(self.m.read_bytes(rel), before)

    def test_creating_files_and_dirs_is_refused(self):
        before = tree(self.m.mnt)
        attempts = [
            lambda: os.open(self.m.path('newfile'), os.O_WRONLY | os.O_CREAT, 0o644),
            lambda: os.open(self.m.path('tasks/foo'), os.O_WRONLY | os.O_CREAT, 0o644),
            lambda: os.open(self.m.path('tasks/new.swp'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644),
            lambda: os.open(self.m.path('tasks/%d/extra' % self.tid), os.O_WRONLY | os.O_CREAT, 0o644),
            lambda: os.open(self.m.path('workers/1/x'), os.O_WRONLY | os.O_CREAT, 0o644),
            lambda: os.mkdir(self.m.path('dir')),
            lambda: os.mkdir(self.m.path('tasks/99')),
            lambda: os.mkdir(self.m.path('workers/9')),
            lambda: os.symlink('/etc', self.m.path('link')),
            lambda: os.symlink('/etc', self.m.path('tasks/link')),
            lambda: os.link(self.m.path('README'), self.m.path('README2')),
            lambda: os.mknod(self.m.path('fifo'), 0o600 | 0o010000),
        ]
        for i, f in enumerate(attempts):
            with self.assertRaises(OSError, msg='attempt %d succeeded' % i) as cm:
                f()
            self.assertErrno(cm.exception.errno, errno.EACCES, errno.EPERM)
        self.assertEqual(tree(self.m.mnt), before)

    def test_renaming_is_refused(self):
        before = tree(self.m.mnt)
        pairs = [('tasks/new', 'tasks/new~'), ('README', 'README.old'),
                 ('tasks/%d' % self.tid, 'tasks/77'), ('tasks/%d/log' % self.tid, 'tasks/%d/log2' % self.tid),
                 ('status', 'tasks/status')]
        for a, b in pairs:
            with self.assertRaises(OSError, msg='rename %s' % a) as cm:
                os.rename(self.m.path(a), self.m.path(b))
            self.assertErrno(cm.exception.errno, errno.EACCES, errno.EPERM)
        self.assertEqual(tree(self.m.mnt), before)

    def test_removing_is_refused(self):
        before = tree(self.m.mnt)
        for rel in ('README', 'tasks/new', 'tasks/%d/log' % self.tid, 'tasks/%d/worktree' % self.tid, 'ctl'):
            with self.assertRaises(OSError, msg='unlink %s' % rel) as cm:
                os.unlink(self.m.path(rel))
            self.assertErrno(cm.exception.errno, errno.EACCES, errno.EPERM)
        for rel in ('tasks/%d' % self.tid, 'workers/1', 'tasks'):
            with self.assertRaises(OSError, msg='rmdir %s' % rel) as cm:
                os.rmdir(self.m.path(rel))
            self.assertErrno(cm.exception.errno, errno.EACCES, errno.EPERM, errno.ENOTEMPTY)
        r = sh('rm -rf %s/tasks/%d' % (self.m.mnt, self.tid))
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(tree(self.m.mnt), before)
        self.assertEqual(self.m.state(self.tid), 'done')

    def test_chmod_does_not_make_files_writable(self):
        for rel in ('status', 'tasks/%d/log' % self.tid):
            try:
                os.chmod(self.m.path(rel), 0o666)
            except OSError as e:
                self.assertErrno(e.errno, errno.EACCES, errno.EPERM)
            self.assertEqual(os.stat(self.m.path(rel)).st_mode & 0o222, 0, rel)


class TestRefusalsWhenDetached(PaiTestCase):
    """Mounted the usual way (no -f): the daemon's log is
    STATE/daemon.log, and every refusal is written there."""
    autostart = False

    def test_refusals_reach_daemon_log(self):
        argv = [paitest.PAI_BIN, '-o', ','.join(self.m.opts), self.m.repo, self.m.mnt]
        self.m.start(argv=argv)
        # the command returns once the mount is up
        self.assertEqual(self.m.proc.wait(30), 0)
        pids = paitest.daemon_pids(self.m.mnt)
        self.assertTrue(pids)
        self.assertErrno(self.m.try_new(b'{"prompt": "x", "bogus": 1}'), errno.EINVAL)
        self.assertErrno(self.m.ctl('ctl', 'frobnicate 3\n'), errno.EINVAL)
        self.assertErrno(self.m.ctl('ctl', 'cancel 999\n'), errno.ENOENT)
        self.assertErrno(self.m.try_new(b'x' * (MIB + 1)), errno.EFBIG)
        reasons = [e['reason'] for e in self.refused_events()]
        self.assertEqual(len(reasons), 4, reasons)
        self.assertEqual(run(['fusermount3', '-u', self.m.mnt]).returncode, 0)
        paitest.wait_for(lambda: not any(paitest.pid_alive(p) for p in pids), 30,
                         msg='the detached daemon to exit')
        with open(os.path.join(self.m.repo, '.git', 'parallelai', 'daemon.log')) as f:
            lines = f.read().splitlines()
        refused = [ln for ln in lines if ln.startswith('parallelai: refused: ')]
        # each one, with the reason events has, one line each
        self.assertEqual([ln[len('parallelai: refused: '):] for ln in refused], reasons)
        for pat in paitest.BAD_PATTERNS:
            self.assertNotIn(pat, '\n'.join(lines))


if __name__ == '__main__':
    paitest.main()
