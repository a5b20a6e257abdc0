#!/usr/bin/python3
"""A merge stays inside the repository and drops nothing.

It never writes through a symbolic link in the user's checkout, nor over a
file or directory git does not track that is in the way, at any depth: it
is refused with EBUSY and a reason naming the path, and the checkout, the
branch, the index and whatever lies outside are as they were.  And a file
or symbolic link on one side where the other has a directory (or a file)
is a conflict, as git merge-tree says, not a path silently lost: conflicts
and merge-order list the pair, and merge all merges one of them and
refuses the other.

Every task is an `sh` task; the results are checked with plain git in the
user's checkout and with ls and cat outside it.
"""

import errno
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git  # noqa: E402


class MergeSafetyCase(PaiTestCase):

    def setUp(self):
        super().setUp()
        # a directory outside the repository, with something to lose
        self.outside = os.path.join(self.tmp, 'outside')
        os.makedirs(self.outside, exist_ok=True)
        with open(os.path.join(self.outside, 'other'), 'w') as f:
            f.write('precious\n')

    def done(self, prompt):
        tid = self.m.submit(prompt)
        self.assertDone(tid)
        return tid

    def merge(self, tid):
        return self.m.ctl('tasks/%d/ctl' % tid, 'merge\n')

    def rev(self, name):
        return git(self.m.repo, 'rev-parse', name).strip()

    def repo_path(self, rel):
        return os.path.join(self.m.repo, rel)

    def repo_file(self, rel):
        with open(self.repo_path(rel)) as f:
            return f.read()

    def outside_snapshot(self):
        """Every name under the outside directory, with its contents."""
        snap = {}
        for root, dirs, files in os.walk(self.outside):
            for name in dirs + files:
                path = os.path.join(root, name)
                rel = os.path.relpath(path, self.outside)
                snap[rel] = None
                if os.path.isfile(path):
                    with open(path) as f:
                        snap[rel] = f.read()
        return snap

    def checkout_snapshot(self):
        """The branch, HEAD, the index and git status of the checkout."""
        return {
            'HEAD': self.rev('HEAD'),
            'main': self.rev('refs/heads/main'),
            'index': git(self.m.repo, 'ls-files', '-s'),
            'status': git(self.m.repo, 'status', '--porcelain',
                          '--untracked-files=all', '--ignored'),
        }

    def assertRefused(self, tid, *words):
        """Merging tid is EBUSY, the reason has words in the task's status,
        the events and the daemon's log, and nothing changed in or outside
        the checkout."""
        before = self.checkout_snapshot()
        outside = self.outside_snapshot()
        self.assertErrno(self.merge(tid), errno.EBUSY)
        self.assertEqual(self.checkout_snapshot(), before)
        self.assertEqual(self.outside_snapshot(), outside)
        self.assertEqual(self.m.state(tid), 'done')
        self.assertFalse(self.m.events_of('merged', tid))
        reason = self.m.status(tid).get('reason', '')
        self.assertTrue(reason.startswith('merge refused:'), reason)
        refused = [e for e in self.refused_events() if e.get('task') == tid]
        self.assertTrue(refused)
        for w in words:
            self.assertIn(w, reason)
            self.assertIn(w, refused[-1]['reason'])
            self.assertIn(w, self.m.stderr_text())


class TestMergeStaysInTheCheckout(MergeSafetyCase):

    def test_merge_does_not_write_through_an_untracked_symlink(self):
        # the reproduction of issue 20, item 1, in shell words
        os.symlink(self.outside, self.repo_path('newdir'))
        tid = self.done('mkdir -p newdir && echo OVERWRITTEN > newdir/other\n')
        before = self.checkout_snapshot()
        # bash, whose echo says which error it met
        r = paitest.run(['bash', '-c', "echo 'merge %d' > %s/ctl" % (tid, self.m.mnt)])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('Device or resource busy', r.stderr)
        self.assertEqual(self.checkout_snapshot(), before)
        with open(os.path.join(self.outside, 'other')) as f:
            self.assertEqual(f.read(), 'precious\n')
        self.assertEqual(os.listdir(self.outside), ['other'])
        self.assertEqual(self.m.state(tid), 'done')
        reason = self.m.status(tid).get('reason', '')
        self.assertIn("untracked symbolic link 'newdir' is in the way of "
                      "'newdir/other'", reason)
        self.assertIn("'newdir'", self.refused_events()[-1]['reason'])
        self.assertIn("'newdir'", self.m.stderr_text())

    def test_merge_does_not_write_through_a_symlink_deeper_down(self):
        # a real directory, tracked or not, with a link inside it
        os.symlink(self.outside, self.repo_path('src/b'))
        os.makedirs(self.repo_path('a'))
        os.symlink(self.outside, self.repo_path('a/b'))
        t1 = self.done('mkdir -p src/b && echo OVERWRITTEN > src/b/other\n')
        t2 = self.done('mkdir -p a/b/c && echo OVERWRITTEN > a/b/c/new\n')
        self.assertRefused(t1, "symbolic link 'src/b'", "'src/b/other'")
        self.assertRefused(t2, "symbolic link 'a/b'", "'a/b/c/new'")

    def test_merge_does_not_write_over_an_untracked_file_in_the_way(self):
        with open(self.repo_path('u'), 'w') as f:
            f.write('mine\n')
        with open(self.repo_path('plan.md'), 'w') as f:
            f.write('mine\n')
        t1 = self.done('mkdir -p u/w && echo new > u/w/v\n')
        t2 = self.done('echo new > plan.md\n')
        self.assertRefused(t1, "untracked file 'u' is in the way of 'u/w/v'")
        self.assertRefused(t2, 'plan.md')
        self.assertEqual(self.repo_file('u'), 'mine\n')
        self.assertEqual(self.repo_file('plan.md'), 'mine\n')

    def test_merge_does_not_replace_an_untracked_directory_with_a_file(self):
        os.makedirs(self.repo_path('x'))
        with open(self.repo_path('x/mine'), 'w') as f:
            f.write('mine\n')
        os.makedirs(self.repo_path('empty'))
        t1 = self.done('echo new > x\n')
        t2 = self.done('echo new > empty\n')
        self.assertRefused(t1, 'x/mine')
        self.assertRefused(t2, "untracked directory 'empty' is in the way")
        self.assertEqual(self.repo_file('x/mine'), 'mine\n')
        self.assertTrue(os.path.isdir(self.repo_path('empty')))

    def test_merge_replaces_a_tracked_symlink_the_task_replaces(self):
        # links git tracks, to a directory and to a file outside
        os.symlink('../outside', self.repo_path('lnk'))
        os.symlink('../outside/other', self.repo_path('lf'))
        git(self.m.repo, 'add', 'lnk', 'lf')
        git(self.m.repo, 'commit', '-q', '-m', 'links')
        t1 = self.done('rm lnk && mkdir lnk && echo inside > lnk/other\n')
        self.assertEqual(self.merge(t1), 0)
        t2 = self.done('rm lf && echo mine > lf\n')
        self.assertEqual(self.merge(t2), 0)
        self.assertEqual(self.m.state(t1), 'merged')
        self.assertEqual(self.m.state(t2), 'merged')
        self.assertFalse(os.path.islink(self.repo_path('lnk')))
        self.assertFalse(os.path.islink(self.repo_path('lf')))
        self.assertEqual(self.repo_file('lnk/other'), 'inside\n')
        self.assertEqual(self.repo_file('lf'), 'mine\n')
        self.assertEqual(self.outside_snapshot(), {'other': 'precious\n'})
        self.assertEqual(git(self.m.repo, 'status', '--porcelain'), '')


class TestFileDirectoryClashes(MergeSafetyCase):

    def tree(self, rev='main'):
        """git ls-tree -r of rev: {path: (mode, object)}."""
        out = git(self.m.repo, 'ls-tree', '-r', rev)
        entries = {}
        for line in out.splitlines():
            meta, path = line.split('\t', 1)
            mode, _, obj = meta.split()
            entries[path] = (mode, obj)
        return entries

    def clash(self, base, first, second, paths):
        """base is merged; first and second, both made from its result,
        clash: conflicts and merge-order say so, merge all merges first
        and refuses second, and main keeps every path of first."""
        t0 = self.done(base)
        self.assertEqual(self.merge(t0), 0)
        a = self.done(first)
        b = self.done(second)
        self.assertEqual(self.m.read('conflicts'), '%d %d %s\n' % (a, b, paths))
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n! %d conflicts: %s\n' % (a, b, paths))
        self.assertEqual(self.m.read('tasks/%d/conflicts' % b),
                         '%d %s\n' % (a, paths))
        outside = self.outside_snapshot()
        self.assertErrno(self.m.ctl('ctl', 'merge all\n'), errno.EBUSY)
        self.assertIn('task %d cannot go: it conflicts' % b,
                      self.refused_events()[-1]['reason'])
        self.assertEqual(self.m.state(a), 'merged')
        self.assertEqual(self.m.state(b), 'done')
        self.assertEqual(self.rev('main'), self.m.status(a)['commit'])
        self.assertEqual(self.outside_snapshot(), outside)
        # nothing task a wrote is missing from main
        want = self.tree(self.m.status(a)['commit'])
        got = self.tree('main')
        for path, entry in want.items():
            self.assertEqual(got.get(path), entry, path)
        self.assertEqual(git(self.m.repo, 'status', '--porcelain'), '')
        self.assertEqual(self.m.read('conflicts'), '%d main %s\n' % (b, paths))
        # and on its own, b is refused the same way, naming the paths
        self.assertRefused(b, 'conflict in %s' % paths)
        return a, b

    def test_directory_turned_file_conflicts_with_a_file_added_in_it(self):
        # the reproduction of issue 20, item 3
        a, b = self.clash('mkdir -p e && echo 1 > e/one\n',
                          'rm -rf e && echo "i am a file" > e\n',
                          'echo two > e/two\n', 'e e/two')
        self.assertEqual(self.repo_file('e'), 'i am a file\n')
        self.assertIn('conflict in e e/two', self.m.status(b)['reason'])

    def test_directory_turned_symlink_conflicts_with_a_file_added_in_it(self):
        self.clash('mkdir -p e && echo 1 > e/one\n',
                   'rm -rf e && ln -s elsewhere e\n',
                   'echo two > e/two\n', 'e e/two')
        self.assertEqual(os.readlink(self.repo_path('e')), 'elsewhere')

    def test_file_turned_symlink_conflicts_with_a_change_to_the_file(self):
        self.clash('echo 1 > f\n', 'rm f && ln -s elsewhere f\n',
                   'echo more >> f\n', 'f')
        self.assertEqual(os.readlink(self.repo_path('f')), 'elsewhere')


class BusyCheckoutCase(MergeSafetyCase):
    """The user's checkout is in the middle of a git operation that left
    the paths of the task alone: a side branch changes README.md, the task
    changes notes.txt."""

    def prepare_repo(self, repo):
        git(repo, 'checkout', '-q', '-b', 'side')
        with open(os.path.join(repo, 'README.md'), 'a') as f:
            f.write('a line from the side branch\n')
        git(repo, 'commit', '-q', '-am', 'side: a line in README.md')
        git(repo, 'checkout', '-q', 'main')

    def git_env(self, *args, **env):
        """git in the checkout, with env added; its exit status."""
        full = dict(os.environ)
        full.update(env)
        return paitest.run(['git', '-C', self.m.repo] + list(args), env=full).returncode

    def task_touching_notes(self):
        return self.done("sed -i 's/two/two by the task/' notes.txt\n")

    def assertRefusedThenMerges(self, tid, what, abort):
        """Merging is refused naming what is under way; once it is
        aborted, the same merge goes through."""
        self.assertRefused(tid, "is in the middle of %s" % what,
                           "'%s'" % self.m.repo)
        self.assertEqual(self.git_env(*abort), 0)
        self.assertEqual(self.merge(tid), 0)
        self.assertEqual(self.m.state(tid), 'merged')
        self.assertIn('two by the task', self.repo_file('notes.txt'))
        self.assertEqual(git(self.m.repo, 'status', '--porcelain'), '')


class TestMergeIntoABusyCheckout(BusyCheckoutCase):

    def test_merge_is_refused_during_a_merge(self):
        tid = self.task_touching_notes()
        # a clean merge, stopped before its commit: MERGE_HEAD is there
        self.assertEqual(self.git_env('merge', '-q', '--no-ff', '--no-commit', 'side'), 0)
        self.assertTrue(os.path.exists(os.path.join(self.m.repo, '.git', 'MERGE_HEAD')))
        self.assertRefusedThenMerges(tid, 'a merge', ('merge', '--abort'))

    def test_merge_is_refused_during_a_cherry_pick(self):
        tid = self.task_touching_notes()
        # the cherry-pick applied cleanly; its commit waits for a message
        self.assertNotEqual(self.git_env('cherry-pick', '-e', 'side', GIT_EDITOR='false'), 0)
        self.assertTrue(os.path.exists(os.path.join(self.m.repo, '.git', 'CHERRY_PICK_HEAD')))
        self.assertRefusedThenMerges(tid, 'a cherry-pick', ('cherry-pick', '--abort'))


class TestMergeIntoABranchBeingRebased(BusyCheckoutCase):
    """A rebase detaches HEAD: the checkout is still main's, and a merge
    into main (named by mergeInto) must not move it under the rebase."""

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'parallelai.mergeInto', 'main')

    def test_merge_is_refused_during_a_rebase(self):
        tid = self.task_touching_notes()
        git(self.m.repo, 'commit', '-q', '--allow-empty', '-m', 'to be rebased')
        # an interactive rebase of main onto side, stopped at its start
        self.assertEqual(self.git_env('rebase', '-q', '-i', 'side',
                                      GIT_SEQUENCE_EDITOR='sed -i 1ibreak'), 0)
        self.assertTrue(os.path.isdir(os.path.join(self.m.repo, '.git', 'rebase-merge')))
        self.assertRefusedThenMerges(tid, 'a rebase', ('rebase', '--abort'))


# merge one task through its ctl; exit with the errno (0: merged)
MERGE_ONE = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.write(fd, b'merge\\n')
    os.close(fd)
except OSError as e:
    sys.exit(e.errno)
"""


class TestBaseBranchMovesDuringTheMerge(BusyCheckoutCase):
    """The base branch moves while the merge is being made: the merge is
    refused and the new tip is kept, not overwritten.

    The window is held open without timing: .git/info/exclude is made a
    FIFO, which the merge opens when it looks at the status of the
    checkout (after it has read the tip, before it moves the branch; the
    task's path has a new mtime, so git looks at it closely). The test
    moves main while the daemon waits in that open(), then lets it go."""

    def reader_waits(self):
        """Whether a thread of the daemon waits in open() of a FIFO (git
        reads the file's st_size bytes, 0 here: only open() blocks)."""
        pid = self.m.proc.pid
        for t in os.listdir('/proc/%d/task' % pid):
            try:
                with open('/proc/%d/task/%s/wchan' % (pid, t)) as f:
                    if f.read().strip() == 'wait_for_partner':
                        return True
            except OSError:
                pass
        return False

    def merge_meanwhile(self, tid, fifo, meanwhile):
        """Merge tid from another process (a close-on-exec of the ctl
        handle in a forked git would wait for the merge); let every reader
        of the FIFO through, calling meanwhile() while the first waits.
        The merge's errno, and whether meanwhile() ran."""
        proc = subprocess.Popen([sys.executable, '-c', MERGE_ONE,
                                 self.m.path('tasks/%d/ctl' % tid)])
        called = False
        deadline = time.monotonic() + 60
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                if not self.reader_waits():
                    time.sleep(0.01)
                    continue
                if not called:
                    called = True
                    meanwhile()
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        raise
        finally:
            os.unlink(fifo)
            # a reader still waiting goes on once a writer comes
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            proc.wait(30)
        return proc.returncode, called

    def test_merge_is_refused_when_main_moves_meanwhile(self):
        tid = self.task_touching_notes()
        exclude = os.path.join(self.m.repo, '.git', 'info', 'exclude')
        os.makedirs(os.path.dirname(exclude), exist_ok=True)
        if os.path.exists(exclude):
            os.unlink(exclude)
        # same content, another time: status must look at the file
        os.utime(self.repo_path('notes.txt'), (1, 1))
        os.mkfifo(exclude)
        old = self.rev('main')
        moved = []

        def move_main():
            # plumbing only: nothing here reads info/exclude
            new = git(self.m.repo, 'commit-tree', 'main^{tree}', '-p', 'main',
                      '-m', 'a commit made while the merge was being made').strip()
            git(self.m.repo, 'update-ref', 'refs/heads/main', new, old)
            moved.append(new)
        rc, called = self.merge_meanwhile(tid, exclude, move_main)
        self.assertTrue(called, 'the merge never read the checkout')
        self.assertErrno(rc, errno.EBUSY)
        # the commit made meanwhile is main's tip, not lost under the merge
        self.assertEqual(self.rev('main'), moved[0])
        self.assertEqual(self.m.state(tid), 'done')
        self.assertFalse(self.m.events_of('merged', tid))
        self.assertEqual(self.repo_file('notes.txt'), 'one\ntwo\nthree\n')
        reason = self.m.status(tid).get('reason', '')
        self.assertIn('the branch moved during the merge', reason)
        self.assertIn('the branch moved during the merge', self.refused_events()[-1]['reason'])
        # asked again, it merges onto the new tip
        self.assertEqual(self.merge(tid), 0)
        self.assertEqual(self.parents(self.rev('main')), [moved[0], self.m.status(tid)['commit']])
        self.assertIn('two by the task', self.repo_file('notes.txt'))

    def parents(self, rev):
        return git(self.m.repo, 'rev-list', '--parents', '-n', '1', rev).split()[1:]


if __name__ == '__main__':
    paitest.main()
