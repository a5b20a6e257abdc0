#!/usr/bin/python3
"""The user's own checkout is never touched by tasks."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git  # noqa: E402


def snapshot(repo):
    files = {}
    for root, dirs, names in os.walk(repo):
        if '.git' in dirs:
            dirs.remove('.git')
        for n in names:
            p = os.path.join(root, n)
            with open(p, 'rb') as f:
                files[os.path.relpath(p, repo)] = f.read()
    return {
        'status': git(repo, 'status', '--porcelain', '--ignored', '--untracked-files=all'),
        'head': git(repo, 'rev-parse', 'HEAD'),
        'branch': git(repo, 'symbolic-ref', 'HEAD'),
        'main': git(repo, 'rev-parse', 'refs/heads/main'),
        'index': git(repo, 'ls-files', '-s'),
        'stash': git(repo, 'stash', 'list'),
        'files': files,
    }


class TestCheckoutUntouched(PaiTestCase):

    def prepare_repo(self, repo):
        # uncommitted work of the user's own, which tasks must not see or touch
        with open(os.path.join(repo, 'notes.txt'), 'a') as f:
            f.write('my uncommitted line\n')
        with open(os.path.join(repo, 'scratch.txt'), 'w') as f:
            f.write('untracked scratch\n')
        with open(os.path.join(repo, 'README.md'), 'a') as f:
            f.write('staged change\n')
        git(repo, 'add', 'README.md')

    def test_tasks_leave_user_checkout_untouched(self):
        before = snapshot(self.m.repo)
        ids = [self.m.submit('echo changed > README.md; rm notes.txt; echo n > new.txt; '
                             'git add -A; git commit -qm inside\n'),
               self.m.submit('echo x > src/hello.c; mkdir -p deep/dir; echo y > deep/dir/f\n'),
               self.m.submit('echo fail > notes.txt; exit 1\n')]
        for t in ids:
            self.m.wait_final(t)
        self.assertEqual(snapshot(self.m.repo), before)

    def test_task_worktree_starts_from_committed_head(self):
        tid = self.m.submit('cat notes.txt; test ! -e scratch.txt && echo no-scratch\n')
        self.assertDone(tid)
        log = self.m.read('tasks/%d/log' % tid)
        self.assertNotIn('my uncommitted line', log)
        self.assertIn('no-scratch', log)

    def test_task_branch_is_the_only_new_branch(self):
        tid = self.m.submit('echo b > b.txt\n')
        self.m.wait_final(tid)
        branches = git(self.m.repo, 'for-each-ref', '--format=%(refname)', 'refs/heads').split()
        self.assertEqual(sorted(branches), ['refs/heads/main', 'refs/heads/pai/task-%d' % tid])

    def test_worktree_is_outside_the_checkout_and_the_git_directory(self):
        tid = self.m.submit('git rev-parse --git-common-dir --show-toplevel\n')
        self.assertDone(tid)
        wt = os.path.realpath(self.m.path('tasks/%d/worktree' % tid))
        repo = os.path.realpath(self.m.repo)
        gitdir = os.path.realpath(os.path.join(repo, '.git'))
        # agent CLIs refuse to edit files beneath .git: not there, nor in
        # the checkout at all
        self.assertFalse(wt.startswith(gitdir + '/'), wt)
        self.assertFalse(wt.startswith(repo + '/'), wt)
        # where the README says: XDG_DATA_HOME/parallelai/worktrees/NAME-HASH/N
        root = os.path.realpath(os.path.join(paitest.XDG_DATA_HOME, 'parallelai', 'worktrees'))
        self.assertEqual(os.path.dirname(os.path.dirname(wt)), root)
        self.assertRegex(os.path.basename(os.path.dirname(wt)), r'^repo-[0-9a-f]+$')
        self.assertEqual(os.path.basename(wt), str(tid))
        self.assertEqual(os.path.realpath(self.m.kv('status')['worktree_dir']),
                         os.path.dirname(wt))
        # and it is a worktree of this repository, as git sees it
        common, top = self.m.read('tasks/%d/log' % tid).split()
        self.assertEqual(os.path.realpath(os.path.join(wt, common)), gitdir)
        self.assertEqual(os.path.realpath(top), wt)


if __name__ == '__main__':
    paitest.main()
