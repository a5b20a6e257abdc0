#!/usr/bin/python3
"""Plain tools on the mount: ls -l, find, stat, os.walk, cat, cp, grep."""

import json
import os
import stat
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, run, sh  # noqa: E402

READ_WRITE = ('new', 'ctl')    # basenames of files one writes to


class TestPlainTools(PaiTestCase):

    def setUp(self):
        super().setUp()
        self.done = self.m.submit("echo hello; printf 'x\\n' > x.txt\n")
        self.failed = self.m.submit('echo oops >&2; exit 2\n')
        self.m.wait_final(self.done)
        self.m.wait_final(self.failed)

    def regular_files(self):
        """(path, st) of every regular file, not following symlinks."""
        out = []
        for root, dirs, files in os.walk(self.m.mnt):
            # never wander into worktrees through the symlinks
            for name in files:
                p = os.path.join(root, name)
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode):
                    out.append((p, st))
        return out

    def test_os_walk_sees_the_whole_layout(self):
        seen = set()
        for root, dirs, files in os.walk(self.m.mnt):
            for name in dirs + files:
                seen.add(os.path.relpath(os.path.join(root, name), self.m.mnt))
        for rel in ('README', 'ctl', 'status', 'status.json', 'events', 'tasks', 'tasks/new',
                    'workers', 'workers/1', 'workers/2', 'workers/1/status', 'workers/1/log'):
            self.assertIn(rel, seen)
        for tid in (self.done, self.failed):
            for name in ('prompt', 'status', 'log', 'diff', 'files', 'task.json', 'ctl', 'worktree'):
                self.assertIn('tasks/%d/%s' % (tid, name), seen)

    def test_stat_size_equals_content_length_for_every_file(self):
        files = self.regular_files()
        self.assertGreater(len(files), 20)
        for p, st in files:
            if os.path.basename(p) in READ_WRITE:
                continue
            self.assertStatMatchesContent(p)

    def assertStatMatchesContent(self, p):
        # status carries uptime, which may tick between two reads: compare
        # only when the content held still around the stat
        for _ in range(5):
            with open(p, 'rb') as f:
                before = f.read()
            size = os.stat(p).st_size
            with open(p, 'rb') as f:
                after = f.read()
            if before == after:
                self.assertEqual(size, len(before), p)
                return
        self.fail('%s keeps changing' % p)

    def test_stat_sizes_are_exact_for_a_running_task(self):
        go = os.path.join(self.tmp, 'go')
        tid = self.m.submit("echo started; echo wip > wip.txt; while [ ! -e %s ]; do sleep 0.1; done\n" % go)
        self.m.wait_state(tid, 'running')
        paitest.wait_for(lambda: 'started' in self.m.read('tasks/%d/log' % tid), 20, msg='output')
        paitest.wait_for(lambda: 'wip.txt' in self.m.read('tasks/%d/files' % tid), 20, msg='wip.txt')
        k = self.m.worker_of(tid)
        # status and task.json change while it runs (durations): what one
        # open handle sees must agree with its own fstat, every time
        paths = ['tasks/%d/%s' % (tid, n) for n in ('status', 'log', 'diff', 'files', 'task.json', 'prompt')]
        paths += ['workers/%d/%s' % (k, n) for n in ('status', 'log')] + ['status', 'status.json']
        for _ in range(20):
            for rel in paths:
                with open(self.m.path(rel), 'rb') as f:
                    size = os.fstat(f.fileno()).st_size
                    data = f.read()
                self.assertEqual(size, len(data), rel)
                if rel.endswith('json'):
                    json.loads(data)
                else:
                    self.assertTrue(data.endswith(b'\n'), rel)
        for rel in ('tasks/%d/diff' % tid, 'tasks/%d/files' % tid, 'tasks/%d/log' % tid):
            self.assertStatMatchesContent(self.m.path(rel))
        open(go, 'w').close()
        self.m.wait_final(tid)

    def test_fstat_size_equals_content_length(self):
        for rel in ('status', 'status.json', 'events', 'README',
                    'tasks/%d/log' % self.done, 'tasks/%d/diff' % self.done,
                    'tasks/%d/task.json' % self.done, 'workers/1/status'):
            for _ in range(5):
                with open(self.m.path(rel), 'rb') as f:
                    size = os.fstat(f.fileno()).st_size
                    data = f.read()
                if data == self.m.read_bytes(rel):   # held still (uptime ticks)
                    self.assertEqual(size, len(data), rel)
                    break
            else:
                self.fail('%s keeps changing' % rel)

    def test_read_only_files_have_no_write_bits(self):
        for p, st in self.regular_files():
            name = os.path.basename(p)
            if name in READ_WRITE:
                continue
            self.assertEqual(st.st_mode & 0o222, 0, '%s mode %o' % (p, st.st_mode))
            self.assertNotEqual(st.st_mode & 0o444, 0, '%s mode %o' % (p, st.st_mode))

    def test_ctl_files_are_the_owners_to_read_and_write(self):
        for rel in ('ctl', 'tasks/%d/ctl' % self.done):
            mode = os.stat(self.m.path(rel)).st_mode
            self.assertTrue(stat.S_ISREG(mode))
            self.assertEqual(mode & 0o777, 0o600, '%s mode %o' % (rel, mode))

    def test_new_is_readable_and_writable(self):
        mode = os.stat(self.m.path('tasks/new')).st_mode
        self.assertTrue(stat.S_ISREG(mode))
        self.assertEqual(mode & 0o600, 0o600, 'mode %o' % mode)

    def test_directories_and_links_have_sensible_types(self):
        self.assertTrue(stat.S_ISDIR(os.lstat(self.m.path('tasks')).st_mode))
        self.assertTrue(stat.S_ISDIR(os.lstat(self.m.path('tasks/%d' % self.done)).st_mode))
        self.assertTrue(stat.S_ISDIR(os.lstat(self.m.path('workers/1')).st_mode))
        self.assertTrue(stat.S_ISLNK(os.lstat(self.m.path('tasks/%d/worktree' % self.done)).st_mode))

    def test_mtimes_are_sensible(self):
        import time
        now = time.time()
        for p, st in self.regular_files():
            self.assertGreater(st.st_mtime, now - 3600, p)
            self.assertLess(st.st_mtime, now + 3600, p)

    def test_ls_l_sizes_match_content(self):
        d = self.m.path('tasks/%d' % self.done)
        r = run(['ls', '-l', '--time-style=+%s', d])
        self.assertEqual(r.returncode, 0, r.stderr)
        checked = 0
        for line in r.stdout.splitlines()[1:]:
            parts = line.split()
            mode, size, name = parts[0], int(parts[4]), parts[6]
            if mode.startswith('-') and name != 'ctl':
                self.assertEqual(size, len(self.m.read_bytes('tasks/%d/%s' % (self.done, name))), name)
                checked += 1
            if mode.startswith('l'):
                self.assertIn('->', line)
        self.assertGreaterEqual(checked, 6)

    def test_ls_l_lists_tasks(self):
        r = run(['ls', '-l', self.m.path('tasks')])
        self.assertEqual(r.returncode, 0, r.stderr)
        names = [ln.split()[-1] for ln in r.stdout.splitlines()[1:]]
        self.assertEqual(sorted(names), sorted(['new', str(self.done), str(self.failed)]))

    def test_find_lists_every_task_file(self):
        r = run(['find', self.m.mnt, '-type', 'f'])
        self.assertEqual(r.returncode, 0, r.stderr)
        found = {os.path.relpath(p, self.m.mnt) for p in r.stdout.splitlines()}
        for name in ('prompt', 'status', 'log', 'diff', 'files', 'task.json', 'ctl'):
            self.assertIn('tasks/%d/%s' % (self.done, name), found)
        r = run(['find', self.m.mnt, '-type', 'l'])
        links = {os.path.relpath(p, self.m.mnt) for p in r.stdout.splitlines()}
        self.assertIn('tasks/%d/worktree' % self.done, links)

    def test_find_size_and_grep_agree(self):
        r = run(['find', self.m.mnt + '/tasks', '-name', 'log', '-size', '+0'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 2, r.stdout)

    def test_stat_command_reports_exact_size(self):
        rel = 'tasks/%d/task.json' % self.done
        r = run(['stat', '-c', '%s %F %a', self.m.path(rel)])
        self.assertEqual(r.returncode, 0, r.stderr)
        size, rest = r.stdout.split(' ', 1)
        self.assertEqual(int(size), len(self.m.read_bytes(rel)))
        self.assertIn('regular', rest)

    def test_small_block_reads_give_the_same_bytes(self):
        for rel in ('tasks/%d/task.json' % self.done, 'events', 'README'):
            r = run(['dd', 'if=' + self.m.path(rel), 'bs=7', 'status=none'])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.encode(), self.m.read_bytes(rel), rel)

    def test_df_names_the_repository_and_the_mount(self):
        st = os.statvfs(self.m.mnt)
        # mounted nosuid and nodev, as /proc/mounts says
        with open('/proc/mounts') as f:
            line, = [ln.split() for ln in f if ln.split()[1] == self.m.mnt]
        self.assertEqual(line[:3], [self.m.repo, self.m.mnt, 'fuse.parallelai'])
        opts = line[3].split(',')
        self.assertEqual(bool(st.f_flag & os.ST_NOSUID), 'nosuid' in opts)
        self.assertEqual(bool(st.f_flag & os.ST_NODEV), 'nodev' in opts)
        r = run(['df', '-T', '-k', self.m.mnt])
        self.assertEqual(r.returncode, 0, r.stderr)
        head, row = r.stdout.splitlines()
        row = row.split()
        self.assertEqual((row[0], row[1], row[-1]), (self.m.repo, 'fuse.parallelai', self.m.mnt))
        self.assertEqual(int(row[2]), st.f_blocks * st.f_frsize // 1024)

    def test_file_manager_probes_do_not_fail_oddly(self):
        # file managers ask for xattrs and access rights of everything;
        # parallelai keeps none: "not supported" or "no such attribute",
        # never another error, and nothing can be stored
        import errno
        for rel in ('README', 'tasks', 'tasks/%d/log' % self.done, 'tasks/new', 'ctl'):
            p = self.m.path(rel)
            try:
                self.assertEqual(os.listxattr(p), [], rel)
            except OSError as e:
                self.assertIn(e.errno, (errno.ENOTSUP, errno.ENODATA), rel)
            with self.assertRaises(OSError, msg=rel) as cm:
                os.getxattr(p, 'user.xdg.origin.url')
            self.assertIn(cm.exception.errno, (errno.ENOTSUP, errno.ENODATA), rel)
            with self.assertRaises(OSError, msg=rel) as cm:
                os.setxattr(p, 'user.pai.test', b'1')
            self.assertIn(cm.exception.errno, (errno.ENOTSUP, errno.EACCES, errno.EPERM), rel)
            with self.assertRaises(OSError, msg=rel):
                os.getxattr(p, 'user.pai.test')
        self.assertTrue(os.access(self.m.path('tasks/%d/log' % self.done), os.R_OK))
        self.assertTrue(os.access(self.m.path('tasks'), os.R_OK | os.X_OK))
        self.assertFalse(os.access(self.m.path('tasks/%d/log' % self.done), os.W_OK))

    def test_cat_reads_status(self):
        r = sh('cat %s/tasks/%d/status' % (self.m.mnt, self.failed))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[0], 'failed')

    def state_file(self, rel):
        with open(os.path.join(self.m.repo, '.git', 'parallelai', rel), 'rb') as f:
            return f.read()

    def test_cp_copies_log_exactly(self):
        dst = os.path.join(self.tmp, 'copied.log')
        r = run(['cp', self.m.path('tasks/%d/log' % self.done), dst])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(dst, 'rb') as f:
            copied = f.read()
        # what the task printed, and the log file in the state directory
        self.assertEqual(copied, b'hello\n')
        self.assertEqual(copied, self.state_file('logs/%d.log' % self.done))

    def test_cp_r_copies_task_directory(self):
        dst = os.path.join(self.tmp, 'copy')
        src = self.m.path('tasks/%d' % self.done)
        r = run(['cp', '-r', '-P', src, dst])
        self.assertEqual((r.returncode, r.stderr), (0, ''))
        self.assertEqual(sorted(os.listdir(dst)), sorted(os.listdir(src)))

        def copied(name):
            with open(os.path.join(dst, name), 'rb') as f:
                return f.read()
        st = self.m.status(self.done)
        # each file against what is known without the mount
        self.assertEqual(copied('prompt'), b"echo hello; printf 'x\\n' > x.txt\n")
        self.assertEqual(copied('prompt'), self.state_file('prompts/%d' % self.done))
        self.assertEqual(copied('log'), b'hello\n')
        self.assertEqual(copied('diff').decode(),
                         paitest.git(self.m.repo, 'diff', st['base'], st['commit']))
        self.assertEqual(copied('files').decode(),
                         paitest.git(self.m.repo, 'diff', '--name-status', st['base'], st['commit']))
        self.assertEqual(copied('files'), b'A\tx.txt\n')
        self.assertEqual(copied('status').split(b'\n', 1)[0], b'done')
        self.assertEqual(paitest.git(self.m.repo, 'rev-parse', 'pai/task-%d' % self.done).strip(),
                         st['commit'])
        task = json.loads(copied('task.json'))
        self.assertEqual((task['id'], task['state'], task['commit']),
                         (self.done, 'done', st['commit']))
        # the link is copied as a link, to the real worktree
        link = os.path.join(dst, 'worktree')
        self.assertTrue(os.path.islink(link))
        self.assertEqual(os.path.realpath(link), os.path.realpath(st['worktree']))
        with open(os.path.join(link, 'x.txt')) as f:
            self.assertEqual(f.read(), 'x\n')

    def test_grep_finds_state_in_status_files(self):
        r = sh("grep -l '^failed$' %s/tasks/*/status" % self.m.mnt)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), [self.m.path('tasks/%d/status' % self.failed)])

    def test_grep_r_over_tasks(self):
        r = run(['grep', '-r', '--exclude=ctl', '-l', 'oops', self.m.path('tasks')])
        self.assertIn(self.m.path('tasks/%d/log' % self.failed), r.stdout.split())

    def test_python_read_of_events_is_json_lines(self):
        with open(self.m.path('events')) as f:
            lines = f.read().splitlines()
        self.assertGreaterEqual(len(lines), 6)
        for line in lines:
            json.loads(line)

    def test_head_and_wc_read_files(self):
        r = sh('head -n 1 %s/tasks/%d/status' % (self.m.mnt, self.done))
        self.assertEqual(r.stdout, 'done\n')
        r = sh('wc -c < %s/tasks/%d/log' % (self.m.mnt, self.done))
        self.assertEqual(int(r.stdout), len(self.m.read_bytes('tasks/%d/log' % self.done)))

    def test_less_prints_file(self):
        if not paitest.shutil.which('less'):
            self.skipTest('less is not installed')
        r = sh('less -F %s/status < /dev/null' % self.m.mnt, env=dict(os.environ, PAGER='', TERM='dumb'))
        self.assertIn('workers:', r.stdout)


if __name__ == '__main__':
    paitest.main()
