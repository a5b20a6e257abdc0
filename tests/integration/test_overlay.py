#!/usr/bin/python3
"""-o checkout=overlay: a task's worktree is a kernel overlay mount over one
shared checkout of its base commit; real mounts, real git."""

import os
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, overlay_mounts, wait_for  # noqa: E402

# edits, adds, deletes, renames (a file, a directory), a directory
# replaced, a mode changed, a link: what a worktree must commit exactly
SCRIPT = r'''
set -e
echo changed >> README.md
echo new > added.txt
rm notes.txt
mv src/hello.c src/renamed.c
mkdir -p tree/a/b && echo 1 > tree/a/b/one && echo 2 > tree/a/two
git mv dir dir-moved
rm -rf gone && mkdir gone && echo only > gone/only
chmod +x run.sh
ln -s README.md link
rm -rf dir3
git rm -q --cached cached.txt
'''


def seed(repo):
    """Files for SCRIPT to work on, committed."""
    os.makedirs(os.path.join(repo, 'dir', 'sub'), exist_ok=True)
    os.makedirs(os.path.join(repo, 'gone'), exist_ok=True)
    os.makedirs(os.path.join(repo, 'dir3', 'a'), exist_ok=True)
    for rel, text in (('dir/sub/x', 'x\n'), ('dir/y', 'y\n'),
                      ('gone/a', 'a\n'), ('gone/b', 'b\n'),
                      ('run.sh', 'echo run\n'), ('notes.txt', 'notes\n'),
                      ('dir3/a/b', 'b\n'), ('cached.txt', 'cached\n')):
        with open(os.path.join(repo, rel), 'w') as f:
            f.write(text)
    git(repo, 'add', '-A')
    git(repo, 'commit', '-q', '-m', 'seed')


def overlay_root(m):
    """WORKTREES/.overlay: the base checkouts and the tasks' upper
    directories, beside the worktrees."""
    return os.path.join(m.kv('status')['worktree_dir'], '.overlay')


class OverlayCase(PaiTestCase):
    mount_opts = ('checkout=overlay',)

    def prepare_repo(self, repo):
        seed(repo)

    def worktree(self, tid):
        """The task's worktree, once it has one (a task is running before
        its worktree is made)."""
        wait_for(lambda: 'worktree' in self.m.status(tid), msg='a worktree')
        return self.m.status(tid)['worktree']

    def mounted_at(self, path):
        return [p for p, _u in overlay_mounts(self.tmp, self.m.repo, paitest.XDG_DATA_HOME) if p == path]


class TestOverlay(OverlayCase):

    def test_worktree_copy_into_a_directory_only_the_base_has(self):
        # dir/sub is tracked (in the base, not yet in the task's upper
        # directory): the copy is made beneath it, as in a checkout
        with open(os.path.join(self.m.repo, 'dir', 'sub', '.env'), 'w') as f:
            f.write('SECRET=1\n')
        self.m.unmount()
        git(self.m.repo, 'config', 'worktree.copy', 'dir/sub/.env')
        self.m.start()
        tid = self.m.submit('cat dir/sub/.env > seen.txt\n')
        self.assertDone(tid)
        self.assertIn('+SECRET=1', self.m.read('tasks/%d/diff' % tid))
        self.assertNotIn('.env', self.m.read('tasks/%d/files' % tid))

    def test_commit_diff_files_equal_a_full_checkout(self):
        tid = self.m.submit(SCRIPT)
        self.assertDone(tid)
        st = self.m.status(tid)
        self.assertEqual(st['checkout'], 'overlay')
        self.assertTrue(self.mounted_at(st['worktree']))
        over = (git(self.m.repo, 'rev-parse', st['commit'] + '^{tree}'),
                self.m.read('tasks/%d/files' % tid),
                self.m.read('tasks/%d/diff' % tid))
        # the same script in a full checkout, on the same base
        self.m.unmount()
        self.m.opts = [o for o in self.m.opts if not o.startswith('checkout=')]
        self.m.opts.append('checkout=full')
        self.m.start()
        # the overlay task's worktree is mounted again by the new mount
        self.assertTrue(self.mounted_at(st['worktree']))
        self.assertEqual(self.m.status(tid)['checkout'], 'overlay')
        full = self.m.submit(SCRIPT)
        self.assertDone(full)
        fst = self.m.status(full)
        self.assertEqual(fst['checkout'], 'full')
        self.assertEqual(fst['base'], st['base'])
        self.assertEqual(
            (git(self.m.repo, 'rev-parse', fst['commit'] + '^{tree}'),
             self.m.read('tasks/%d/files' % full),
             self.m.read('tasks/%d/diff' % full)), over)
        files = over[1]
        for line in ('D\tdir/sub/x', 'A\tdir-moved/sub/x', 'A\tgone/only',
                     'D\tgone/a', 'A\tlink', 'D\tnotes.txt', 'M\trun.sh',
                     'A\tsrc/renamed.c', 'A\ttree/a/b/one', 'D\tdir3/a/b'):
            self.assertIn(line, files)
        # git rm --cached in the worktree: add -A takes it back
        self.assertNotIn('cached.txt', files)

    def test_names_a_pathspec_would_not_take_literally(self):
        # the whole worktree is looked at then
        tid = self.m.submit('echo s > "with space.txt"; echo q > "q[1].txt"; rm notes.txt\n')
        self.assertDone(tid)
        self.assertEqual(self.m.read('tasks/%d/files' % tid),
                         'D\tnotes.txt\nA\tq[1].txt\nA\twith space.txt\n')

    def test_git_inside_the_worktree(self):
        tid = self.m.submit(
            'test -z "$(git status --porcelain)" && echo CLEAN\n'
            'git worktree list --porcelain | grep -c locked\n'
            'mv dir dir2 && git add -A && git commit -qm "by the agent"\n'
            'git status --porcelain | wc -l\n'
            'git diff HEAD~1 --stat | tail -1\n'
            'echo after > after.txt\n')
        self.assertDone(tid)
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('CLEAN', log)
        self.assertIn('2 files changed', log)
        st = self.m.status(tid)
        subjects = git(self.m.repo, 'log', '--format=%s', st['commit']).split('\n')
        self.assertIn('by the agent', subjects)
        self.assertEqual(git(self.m.repo, 'show', st['commit'] + ':after.txt'),
                         'after\n')
        # what git sees in the worktree, from outside, after the commit
        self.assertEqual(git(st['worktree'], 'status', '--porcelain'), '')
        # `git worktree prune` leaves it, mounted or not
        git(self.m.repo, 'worktree', 'prune')
        self.assertIn(st['worktree'], git(self.m.repo, 'worktree', 'list'))

    @unittest.skipUnless(shutil.which('strace'), 'strace is not installed')
    def test_first_git_status_reads_no_file(self):
        # the index copied from the base has the files' stat data: git
        # status in a new worktree is clean without reading one (not even
        # in the second the base was made)
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        wt = self.worktree(tid)
        trace = os.path.join(self.tmp, 'trace')
        r = subprocess.run(['strace', '-f', '-e', 'trace=openat', '-o', trace,
                            'git', 'status', '--porcelain'], cwd=wt,
                           capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stdout), (0, ''), r.stderr)
        tracked = git(wt, 'ls-files').split()
        with open(trace) as f:
            opened = [line for line in f
                      if any('"%s"' % t in line or '/%s"' % t in line for t in tracked)]
        self.assertEqual(opened, [])

    def test_tasks_on_one_base_share_one_checkout(self):
        gate = os.path.join(self.tmp, 'go')
        ids = [self.m.submit('while [ ! -e %s ]; do sleep 0.05; done\n'
                             'echo %d > mine.txt\n' % (gate, i)) for i in (1, 2)]
        for tid in ids:
            self.m.wait_state(tid, 'running')
            self.worktree(tid)
        bases = os.listdir(os.path.join(overlay_root(self.m), 'base'))
        self.assertEqual(bases, [self.m.status(ids[0])['base']])
        self.assertEqual(self.m.status(ids[1])['base'], bases[0])
        self.assertEqual(len(overlay_mounts(self.tmp, self.m.repo, paitest.XDG_DATA_HOME)), 2)
        open(gate, 'w').close()
        for tid in ids:
            self.assertDone(tid)
        # prune takes each overlay, and the base with the last one
        self.assertEqual(self.m.ctl('ctl', 'prune %d' % ids[0]), 0)
        wait_for(lambda: len(overlay_mounts(self.tmp, self.m.repo, paitest.XDG_DATA_HOME)) == 1,
                 msg='first overlay to go')
        self.assertEqual(len(os.listdir(os.path.join(overlay_root(self.m), 'base'))), 1)
        self.assertEqual(self.m.ctl('ctl', 'prune %d' % ids[1]), 0)
        wait_for(lambda: not overlay_mounts(self.tmp, self.m.repo, paitest.XDG_DATA_HOME), msg='overlays to go')
        self.assertEqual(os.listdir(os.path.join(overlay_root(self.m), 'base')), [])
        self.assertEqual(os.listdir(os.path.join(overlay_root(self.m), 'tasks')), [])
        self.assertNotIn('pai-task', git(self.m.repo, 'worktree', 'list'))
        for tid in ids:
            self.assertNotIn('checkout', self.m.status(tid))

    def test_unmount_unmounts_and_remount_mounts_again(self):
        tid = self.m.submit('test -e kept.txt && echo again > again.txt && exit 0\n'
                            'echo kept > kept.txt; exit 1\n')
        self.assertEqual(self.m.wait_final(tid), 'failed')
        wt = self.worktree(tid)
        self.m.unmount()
        self.assertEqual(overlay_mounts(self.tmp, self.m.repo, paitest.XDG_DATA_HOME), [])
        # unmounted, its entry is locked: git worktree prune leaves it
        git(self.m.repo, 'worktree', 'prune')
        self.m.start()
        self.assertTrue(self.mounted_at(wt))
        with open(os.path.join(wt, 'kept.txt')) as f:
            self.assertEqual(f.read(), 'kept\n')
        self.assertEqual(git(wt, 'status', '--porcelain'), '')
        # a retry runs in the same overlay, and finds what it left
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'retry'), 0)
        self.m.wait_state(tid, ('queued', 'running', 'done'))
        self.assertDone(tid)
        self.assertEqual(self.worktree(tid), wt)
        commit = self.m.status(tid)['commit']
        self.assertEqual(git(self.m.repo, 'show', commit + ':again.txt'), 'again\n')

    def test_kill9_then_remount(self):
        gate = os.path.join(self.tmp, 'go')
        tid = self.m.submit('echo before > before.txt\n'
                            'while [ ! -e %s ]; do sleep 0.05; done\n'
                            'echo after > after.txt\n' % gate)
        wt = self.worktree(tid)
        root = overlay_root(self.m)
        wait_for(lambda: os.path.exists(os.path.join(wt, 'before.txt')),
                 msg='the task to start writing')
        self.m.kill9()
        # the kernel keeps the dead daemon's overlay: its engine may live on
        self.assertTrue(self.mounted_at(wt))
        # and an overlay of ours that no task has is taken away at mount
        stray = os.path.join(root, 'tasks', '999')
        os.makedirs(os.path.join(stray, 'upper'))
        os.makedirs(os.path.join(stray, 'work'))
        point = os.path.join(self.tmp, 'stray')
        os.makedirs(point)
        base, = os.listdir(os.path.join(root, 'base'))
        lower = os.path.join(root, 'base', base, 'tree')
        subprocess.run(['mount', '-t', 'overlay', 'overlay', '-o',
                        'lowerdir=%s,upperdir=%s/upper,workdir=%s/work'
                        % (lower, stray, stray), point], check=True)
        self.assertTrue(self.mounted_at(point))
        open(gate, 'w').close()
        self.m.remount()
        self.assertFalse(self.mounted_at(point))
        self.assertDone(tid)
        self.assertEqual(len(self.mounted_at(wt)), 1)
        commit = self.m.status(tid)['commit']
        self.assertEqual(git(self.m.repo, 'show', commit + ':after.txt'), 'after\n')
        self.assertEqual(git(self.m.repo, 'show', commit + ':before.txt'), 'before\n')
        self.m.unmount()
        self.assertEqual(overlay_mounts(self.tmp, self.m.repo, paitest.XDG_DATA_HOME), [])


class TestOverlayRefused(PaiTestCase):
    autostart = False

    def an_overlay(self):
        """A directory on an overlay: an overlay's upper directory cannot
        lie there."""
        lower, upper, work, over = (os.path.join(self.tmp, n)
                                    for n in ('l', 'u', 'w', 'over'))
        for d in (lower, upper, work, over):
            os.makedirs(d)
        subprocess.run(['mount', '-t', 'overlay', 'overlay', '-o',
                        'lowerdir=%s,upperdir=%s,workdir=%s' % (lower, upper, work),
                        over], check=True)
        self.addCleanup(subprocess.run, ['umount', '-l', over])
        return over

    def test_refused_where_the_kernel_refuses(self):
        # an overlay's upper directory cannot lie on an overlay
        over = self.an_overlay()
        argv = self.m.argv()[:2] + ['-o', 'checkout=overlay,state=%s/state' % over,
                                    self.m.repo, self.m.mnt]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('checkout=overlay: cannot mount an overlay', r.stderr)
        self.assertIn('checkout=full', r.stderr)
        self.assertFalse(os.path.ismount(self.m.mnt))

    def test_auto_takes_full_checkouts_where_the_kernel_refuses(self):
        # the same kernel refusal as above, with checkout=auto (the
        # default): mounted, full checkouts, and the root status says why
        over = self.an_overlay()
        self.m.opts = [o for o in self.m.opts if not o.startswith('checkout=')]
        self.m.opts += ['checkout=auto', 'overlayfrom=0', 'state=%s/state' % over]
        self.m.start()
        root = self.m.kv('status')
        self.assertEqual(root['checkout'], 'full')
        self.assertIn('cannot mount an overlay', root['checkout_reason'])
        tid = self.m.submit('echo x > x.txt\n')
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid)['checkout'], 'full')
        self.assertIn('full checkouts', self.m.read('README'))

    def test_auto_is_overlay_where_it_can(self):
        # from overlayFrom files on (0 here: any repository)
        self.m.opts = [o for o in self.m.opts if not o.startswith('checkout=')]
        self.m.opts += ['checkout=auto', 'overlayfrom=0']
        self.m.start()
        root = self.m.kv('status')
        self.assertEqual(root['checkout'], 'overlay')
        self.assertIn('one mount instead of a checkout', root['checkout_reason'])
        tid = self.m.submit('echo x > x.txt\n')
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid)['checkout'], 'overlay')
        self.assertIn('+x', self.m.read('tasks/%d/diff' % tid))

    def test_auto_takes_full_checkouts_for_a_small_repository(self):
        # the default: below overlayFrom (5,000) files a checkout is cheap
        self.m.opts = [o for o in self.m.opts if not o.startswith('checkout=')]
        self.m.start()
        root = self.m.kv('status')
        self.assertEqual(root['checkout'], 'full')
        self.assertIn('fewer than overlayFrom (5000)', root['checkout_reason'])
        self.m.unmount()
        git(self.m.repo, 'config', 'parallelai.overlayFrom', '3')
        self.m.start()
        self.assertEqual(self.m.kv('status')['checkout'], 'overlay')

    def test_bad_value(self):
        argv = self.m.argv()[:2] + ['-o', 'checkout=layered', self.m.repo, self.m.mnt]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('checkout', r.stderr)


if __name__ == '__main__':
    paitest.main()
