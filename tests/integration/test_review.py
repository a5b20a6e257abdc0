#!/usr/bin/python3
"""Review and merge: conflicts, merge-order, merging into the base branch,
merge strategies, push, worktree set-up (worktree.copy, worktree.setup),
prune, and a worktree removed by hand.

Every task is an `sh` task that edits the repository the way an agent
would: the same lines, different hunks of one file, different files,
added and deleted files.  The results are checked with plain git in the
user's checkout.
"""

import errno
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, sh, wait_for  # noqa: E402

# A file long enough that an edit near its top and one near its bottom are
# different hunks for a three-way merge.
LONG = ''.join('line %d\n' % i for i in range(1, 31))


def edit_line(n, text, rel='src/long.txt'):
    """A prompt that replaces line n of rel (a line of LONG) with text."""
    return "sed -i 's/^line %d$/%s/' %s\n" % (n, text, rel)


class ReviewTestCase(PaiTestCase):
    """A repository with src/long.txt committed on top of the usual files;
    git_config is set in it before the mount (the daemon reads its
    configuration when it mounts)."""

    git_config = ()
    branches = ()

    def prepare_repo(self, repo):
        with open(os.path.join(repo, 'src/long.txt'), 'w') as f:
            f.write(LONG)
        git(repo, 'add', 'src/long.txt')
        git(repo, 'commit', '-q', '-m', 'a long file')
        for name in self.branches:
            git(repo, 'branch', name)
        for key, value in self.git_config:
            git(repo, 'config', '--add', key, value)

    # ---- helpers --------------------------------------------------------
    def done(self, prompt):
        """Submit a task and wait for it to end done; its id."""
        tid = self.m.submit(prompt)
        self.assertDone(tid)
        return tid

    def commit_of(self, tid):
        return self.m.status(tid)['commit']

    def merge(self, tid):
        return self.m.ctl('tasks/%d/ctl' % tid, 'merge\n')

    def conflicts_json(self):
        return json.loads(self.m.read('conflicts.json'))

    def repo_file(self, rel):
        with open(os.path.join(self.m.repo, rel)) as f:
            return f.read()

    def write_repo_file(self, rel, text):
        path = os.path.join(self.m.repo, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)

    def rev(self, name):
        return git(self.m.repo, 'rev-parse', name).strip()

    def parents(self, rev):
        return git(self.m.repo, 'rev-list', '--parents', '-n', '1', rev).split()[1:]

    def porcelain(self):
        return git(self.m.repo, 'status', '--porcelain')

    def user_commit(self, rel, text, msg='a commit in the checkout'):
        """The user edits a file in their checkout and commits it."""
        self.write_repo_file(rel, text)
        git(self.m.repo, 'add', rel)
        git(self.m.repo, 'commit', '-q', '-m', msg)
        return self.rev('HEAD')

    def checkout_snapshot(self, *rels):
        """HEAD, the index, git status and some files of the user's checkout."""
        snap = {
            'HEAD': self.rev('HEAD'),
            'main': self.rev('refs/heads/main'),
            'index': git(self.m.repo, 'ls-files', '-s'),
            'status': self.porcelain(),
        }
        for rel in rels:
            snap[rel] = self.repo_file(rel)
        return snap

    def worktree_of(self, tid):
        return os.readlink(self.m.path('tasks/%d/worktree' % tid))

    def git_worktrees(self):
        out = git(self.m.repo, 'worktree', 'list', '--porcelain')
        return [os.path.realpath(line.split(' ', 1)[1])
                for line in out.splitlines() if line.startswith('worktree ')]

    def bare(self, name):
        path = os.path.join(self.tmp, name)
        paitest.run(['git', 'init', '-q', '--bare', path], check=True)
        return path

    def remote_rev(self, bare, ref):
        r = paitest.run(['git', '--git-dir', bare, 'rev-parse', '--verify', '-q', ref])
        return r.stdout.strip() if r.returncode == 0 else None

    def branch_exists(self, name):
        r = paitest.run(['git', '-C', self.m.repo, 'rev-parse', '--verify', '-q',
                         'refs/heads/' + name])
        return r.returncode == 0


class TestConflicts(ReviewTestCase):

    def test_two_tasks_editing_the_same_lines_conflict(self):
        a = self.done(edit_line(3, 'three by a'))
        b = self.done(edit_line(3, 'three by b'))
        self.assertEqual(self.m.read('conflicts'), '%d %d src/long.txt\n' % (a, b))
        self.assertEqual(self.conflicts_json(), {
            'branch': 'main', 'tip': self.rev('main'),
            'conflicts': [{'a': a, 'b': b, 'paths': ['src/long.txt']}]})
        self.assertEqual(self.m.read('tasks/%d/conflicts' % a), '%d src/long.txt\n' % b)
        self.assertEqual(self.m.read('tasks/%d/conflicts' % b), '%d src/long.txt\n' % a)
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n! %d conflicts: src/long.txt\n' % (a, b))

    def test_two_tasks_editing_different_hunks_of_one_file_do_not_conflict(self):
        a = self.done(edit_line(3, 'three by a'))
        b = self.done(edit_line(27, 'twenty-seven by b'))
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(self.conflicts_json(), {
            'branch': 'main', 'tip': self.rev('main'), 'conflicts': []})
        self.assertEqual(self.m.read('tasks/%d/conflicts' % a), '')
        self.assertEqual(self.m.read('tasks/%d/conflicts' % b), '')
        self.assertEqual(self.m.read('merge-order'), '%d\n%d\n' % (a, b))

    def test_two_tasks_editing_different_files_do_not_conflict(self):
        a = self.done("echo 'by a' >> README.md\n")
        b = self.done("sed -i 's/hi/hello/' src/hello.c\n")
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(self.conflicts_json()['conflicts'], [])
        self.assertEqual(self.m.read('merge-order'), '%d\n%d\n' % (a, b))

    def test_conflicting_paths_are_listed_sorted(self):
        both = "sed -i 's/hi/%s/' src/hello.c; sed -i 's/two/%s/' notes.txt; echo %s >> README.md\n"
        a = self.done(both % ('hi-a', 'two-a', 'a'))
        b = self.done(both % ('hi-b', 'two-b', 'b'))
        self.assertEqual(self.m.read('conflicts'),
                         '%d %d README.md notes.txt src/hello.c\n' % (a, b))
        self.assertEqual(self.conflicts_json()['conflicts'],
                         [{'a': a, 'b': b, 'paths': ['README.md', 'notes.txt', 'src/hello.c']}])
        self.assertEqual(self.m.read('tasks/%d/conflicts' % b),
                         '%d README.md notes.txt src/hello.c\n' % a)
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n! %d conflicts: README.md notes.txt src/hello.c\n' % (a, b))

    def test_three_tasks_on_one_line_make_three_pairs(self):
        a, b, c = [self.done(edit_line(5, 'five by %s' % n)) for n in 'abc']
        self.assertEqual(self.m.read('conflicts'),
                         '%d %d src/long.txt\n%d %d src/long.txt\n%d %d src/long.txt\n'
                         % (a, b, a, c, b, c))
        self.assertEqual(self.m.read('tasks/%d/conflicts' % b),
                         '%d src/long.txt\n%d src/long.txt\n' % (a, c))
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n! %d conflicts: src/long.txt\n! %d conflicts: src/long.txt\n'
                         % (a, b, c))

    def test_adding_one_path_with_different_content_conflicts(self):
        a = self.done("echo alpha > added.txt\n")
        b = self.done("echo beta > added.txt\n")
        self.assertEqual(self.m.read('conflicts'), '%d %d added.txt\n' % (a, b))
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n! %d conflicts: added.txt\n' % (a, b))

    def test_adding_one_path_with_the_same_content_does_not_conflict(self):
        a = self.done("echo same > added.txt\n")
        b = self.done("echo same > added.txt\n")
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(self.m.read('merge-order'), '%d\n%d\n' % (a, b))

    def test_deleting_a_file_another_task_modifies_conflicts(self):
        a = self.done("rm src/old.txt\n")
        b = self.done("echo more >> src/old.txt\n")
        self.assertEqual(self.m.read('conflicts'), '%d %d src/old.txt\n' % (a, b))
        self.assertEqual(self.conflicts_json()['conflicts'],
                         [{'a': a, 'b': b, 'paths': ['src/old.txt']}])

    def test_adding_and_deleting_files_beside_an_edit_merge_cleanly(self):
        a = self.done("echo fresh > src/added.txt; rm src/old.txt\n")
        b = self.done("sed -i 's/two/TWO/' notes.txt\n")
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(self.m.read('merge-order'), '%d\n%d\n' % (a, b))
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        self.assertEqual(self.m.state(a), 'merged')
        self.assertEqual(self.m.state(b), 'merged')
        self.assertEqual(self.repo_file('src/added.txt'), 'fresh\n')
        self.assertFalse(os.path.exists(os.path.join(self.m.repo, 'src/old.txt')))
        self.assertEqual(self.repo_file('notes.txt'), 'one\nTWO\nthree\n')
        self.assertEqual(self.porcelain(), '')
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(self.m.read('merge-order'), '')

    def test_task_that_waits_for_a_conflicting_dependency_is_listed_after_it(self):
        a = self.done(edit_line(3, 'three by a'))
        b = self.done(edit_line(3, 'three by b'))
        c = self.done(json.dumps({'prompt': 'echo c > c.txt', 'depends': [b]}) + '\n')
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n! %d conflicts: src/long.txt\n! %d waits for %d\n'
                         % (a, b, c, b))

    def test_merging_one_task_turns_its_rival_into_a_conflict_with_main(self):
        a = self.done(edit_line(3, 'three by a'))
        b = self.done(edit_line(3, 'three by b'))
        c = self.done("echo c > c.txt\n")
        self.assertEqual(self.merge(a), 0)
        self.assertEqual(self.m.read('conflicts'), '%d main src/long.txt\n' % b)
        self.assertEqual(self.conflicts_json(), {
            'branch': 'main', 'tip': self.commit_of(a),
            'conflicts': [{'a': b, 'b': 'main', 'paths': ['src/long.txt']}]})
        self.assertEqual(self.m.read('tasks/%d/conflicts' % b), 'main src/long.txt\n')
        self.assertEqual(self.m.read('tasks/%d/conflicts' % c), '')
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n! %d conflicts: src/long.txt\n' % (c, b))

    def test_commit_in_the_users_checkout_makes_a_task_conflict_with_main(self):
        a = self.done("sed -i 's/two/two by a/' notes.txt\n")
        b = self.done("echo b >> README.md\n")
        self.assertEqual(self.m.read('conflicts'), '')
        tip = self.user_commit('notes.txt', 'one\ntwo by the user\nthree\n')
        wait_for(lambda: self.m.read('conflicts') == '%d main notes.txt\n' % a, 30,
                 msg='conflicts to show task %d against the moved main' % a)
        self.assertEqual(self.conflicts_json(), {
            'branch': 'main', 'tip': tip,
            'conflicts': [{'a': a, 'b': 'main', 'paths': ['notes.txt']}]})
        self.assertEqual(self.m.read('tasks/%d/conflicts' % a), 'main notes.txt\n')
        self.assertEqual(self.m.read('tasks/%d/conflicts' % b), '')
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n! %d conflicts: notes.txt\n' % (b, a))

    def test_commit_in_the_users_checkout_elsewhere_keeps_a_task_clean(self):
        a = self.done(edit_line(3, 'three by a'))
        tip = self.user_commit('src/long.txt', LONG.replace('line 28\n', 'line 28 by the user\n'))
        wait_for(lambda: self.conflicts_json()['tip'] == tip, 30, msg='conflicts.json to see the new tip')
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(self.m.read('merge-order'), '%d\n' % a)


class TestRenames(ReviewTestCase):
    """Renames are found, as git finds them: written-down expectations,
    then what `git merge-tree --write-tree` says of the same two commits
    in the same repository (src/long.txt is the file renamed: long enough
    that an edit leaves it similar)."""

    def merge_tree(self, a, b):
        """git merge-tree of two tasks' commits: (exit status, first line:
        the tree, the conflicted paths)."""
        r = paitest.run(['git', '-C', self.m.repo, 'merge-tree', '--write-tree',
                         '--name-only', '--no-messages',
                         self.commit_of(a), self.commit_of(b)])
        self.assertIn(r.returncode, (0, 1), r.stderr)
        lines = r.stdout.splitlines()
        return r.returncode, lines[0], sorted(set(lines[1:]))

    def test_a_rename_and_an_edit_of_the_file_merge_clean(self):
        a = self.done('mv src/long.txt src/renamed.txt\n')
        b = self.done(edit_line(3, 'three by b'))
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(self.m.read('merge-order'), '%d\n%d\n' % (a, b))
        status, tree, paths = self.merge_tree(a, b)
        self.assertEqual((status, paths), (0, []))
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        self.assertEqual((self.m.state(a), self.m.state(b)), ('merged', 'merged'))
        # the edit followed the file to its new name
        self.assertEqual(self.repo_file('src/renamed.txt'),
                         LONG.replace('line 3\n', 'three by b\n'))
        self.assertFalse(os.path.exists(os.path.join(self.m.repo, 'src/long.txt')))
        self.assertEqual(self.porcelain(), '')
        # the tree git merges to, and parallelai's merge commit has it
        self.assertEqual(self.parents('main'), [self.commit_of(a), self.commit_of(b)])
        self.assertEqual(self.rev('main^{tree}'), tree)

    def test_an_edit_of_a_file_the_base_branch_renamed_merges_clean(self):
        a = self.done(edit_line(27, 'twenty-seven by a'))
        git(self.m.repo, 'mv', 'src/long.txt', 'src/moved.txt')
        git(self.m.repo, 'commit', '-q', '-m', 'the user renames src/long.txt')
        tip = self.rev('main')
        wait_for(lambda: self.conflicts_json()['tip'] == tip, 30,
                 msg='conflicts.json to see the new tip')
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(self.merge(a), 0)
        self.assertEqual(self.repo_file('src/moved.txt'),
                         LONG.replace('line 27\n', 'twenty-seven by a\n'))
        self.assertFalse(os.path.exists(os.path.join(self.m.repo, 'src/long.txt')))

    def test_renaming_one_file_to_two_names_conflicts(self):
        a = self.done('mv src/long.txt src/a.txt\n')
        b = self.done('mv src/long.txt src/b.txt\n')
        status, _, paths = self.merge_tree(a, b)
        # rename/rename: one file at two names, both names and the old
        # one in conflict; git says the same
        self.assertEqual((status, paths), (1, ['src/a.txt', 'src/b.txt', 'src/long.txt']))
        self.assertEqual(self.m.read('conflicts'),
                         '%d %d src/a.txt src/b.txt src/long.txt\n' % (a, b))
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n! %d conflicts: src/a.txt src/b.txt src/long.txt\n' % (a, b))
        self.assertEqual(self.merge(a), 0)
        self.assertErrno(self.merge(b), errno.EBUSY)
        self.assertEqual(self.m.state(b), 'done')
        self.assertIn('src/b.txt', self.m.status(b)['reason'])
        self.assertEqual(self.rev('main'), self.commit_of(a))


class TestMerge(ReviewTestCase):

    def test_merge_fast_forwards_main_and_updates_the_checkout(self):
        tid = self.done("sed -i 's/two/TWO/' notes.txt; echo new > src/new.txt\n")
        commit = self.commit_of(tid)
        self.assertEqual(self.merge(tid), 0)
        self.assertEqual(self.m.state(tid), 'merged')
        self.assertEqual(self.rev('main'), commit)
        ev = self.m.events_of('merged', tid)
        self.assertEqual(len(ev), 1)
        self.assertEqual((ev[0]['branch'], ev[0]['commit'], ev[0]['how']),
                         ('main', commit, 'fast-forward'))
        self.assertEqual(self.repo_file('notes.txt'), 'one\nTWO\nthree\n')
        self.assertEqual(self.repo_file('src/new.txt'), 'new\n')
        self.assertEqual(self.porcelain(), '')
        self.assertEqual(self.m.kv('status').get('merged'), '1')

    def test_merge_after_main_moved_makes_a_merge_commit(self):
        a = self.done(edit_line(3, 'three by a'))
        b = self.done(edit_line(27, 'twenty-seven by b'))
        self.assertEqual(self.merge(a), 0)
        self.assertEqual(self.merge(b), 0)
        self.assertEqual(self.m.state(b), 'merged')
        head = self.rev('main')
        self.assertEqual(self.parents(head), [self.commit_of(a), self.commit_of(b)])
        ev = self.m.events_of('merged', b)[0]
        self.assertEqual((ev['how'], ev['commit']), ('merge', head))
        text = self.repo_file('src/long.txt')
        self.assertIn('three by a\n', text)
        self.assertIn('twenty-seven by b\n', text)
        self.assertEqual(self.porcelain(), '')

    def test_merge_through_the_root_ctl(self):
        tid = self.done("echo root > root.txt\n")
        self.assertEqual(self.m.ctl('ctl', 'merge %d\n' % tid), 0)
        self.assertEqual(self.m.state(tid), 'merged')
        self.assertEqual(self.repo_file('root.txt'), 'root\n')

    def test_merge_with_echo_redirect(self):
        tid = self.done("echo shell > shell.txt\n")
        r = sh('echo merge > %s/tasks/%d/ctl' % (self.m.mnt, tid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.m.state(tid), 'merged')
        self.assertEqual(self.rev('main'), self.commit_of(tid))

    def test_merging_a_conflicting_task_is_ebusy_and_it_stays_done(self):
        a = self.done(edit_line(3, 'three by a'))
        b = self.done(edit_line(3, 'three by b'))
        self.assertEqual(self.merge(a), 0)
        before = self.checkout_snapshot('src/long.txt')
        self.assertErrno(self.merge(b), errno.EBUSY)
        self.assertEqual(self.m.state(b), 'done')
        self.assertIn('src/long.txt', self.m.status(b).get('reason', ''))
        refused = [e for e in self.refused_events() if e.get('task') == b]
        self.assertTrue(refused)
        self.assertIn('src/long.txt', refused[-1]['reason'])
        self.assertFalse(self.m.events_of('merged', b))
        self.assertEqual(self.checkout_snapshot('src/long.txt'), before)

    def test_merging_a_running_task_is_ebusy(self):
        tid = self.m.submit('sleep 60\n')
        self.m.wait_state(tid, 'running')
        self.assertErrno(self.merge(tid), errno.EBUSY)
        self.assertEqual(self.m.state(tid), 'running')
        self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n')
        self.m.wait_final(tid, 30)

    def test_merging_a_failed_or_cancelled_task_is_ebusy(self):
        failed = self.m.submit('echo half > half.txt; exit 1\n')
        self.assertEqual(self.m.wait_final(failed), 'failed')
        self.assertErrno(self.merge(failed), errno.EBUSY)
        self.assertEqual(self.m.state(failed), 'failed')
        cancelled = self.m.submit('sleep 60\n')
        self.m.wait_state(cancelled, 'running')
        self.m.ctl('tasks/%d/ctl' % cancelled, 'cancel\n')
        self.assertEqual(self.m.wait_final(cancelled, 30), 'cancelled')
        self.assertErrno(self.merge(cancelled), errno.EBUSY)
        self.assertErrno(self.m.ctl('ctl', 'merge %d\n' % cancelled), errno.EBUSY)
        self.assertEqual(self.m.state(cancelled), 'cancelled')

    def test_merging_a_merged_task_again_is_ebusy(self):
        tid = self.done("echo once > once.txt\n")
        self.assertEqual(self.merge(tid), 0)
        head = self.rev('main')
        self.assertErrno(self.merge(tid), errno.EBUSY)
        self.assertEqual(self.rev('main'), head)
        self.assertEqual(len(self.m.events_of('merged', tid)), 1)

    def test_merging_a_missing_task_is_enoent(self):
        self.assertErrno(self.m.ctl('ctl', 'merge 999\n'), errno.ENOENT)

    def test_merge_is_refused_when_a_touched_path_has_uncommitted_changes(self):
        tid = self.done("sed -i 's/two/two by the task/' notes.txt\n")
        self.write_repo_file('notes.txt', 'one\ntwo\nthree\nmy unsaved line\n')
        before = self.checkout_snapshot('notes.txt', 'README.md')
        self.assertErrno(self.merge(tid), errno.EBUSY)
        self.assertEqual(self.checkout_snapshot('notes.txt', 'README.md'), before)
        self.assertEqual(self.m.state(tid), 'done')
        reason = self.m.status(tid).get('reason', '')
        self.assertTrue(reason.startswith('merge refused:'), reason)
        self.assertIn('notes.txt', reason)
        refused = [e for e in self.refused_events() if e.get('task') == tid]
        self.assertTrue(refused)
        self.assertIn('notes.txt', refused[-1]['reason'])
        self.assertFalse(self.m.events_of('merged', tid))

    def test_merge_is_refused_when_a_touched_path_has_staged_changes(self):
        tid = self.done("sed -i 's/two/two by the task/' notes.txt\n")
        self.write_repo_file('notes.txt', 'one\ntwo staged\nthree\n')
        git(self.m.repo, 'add', 'notes.txt')
        before = self.checkout_snapshot('notes.txt')
        self.assertErrno(self.merge(tid), errno.EBUSY)
        self.assertEqual(self.checkout_snapshot('notes.txt'), before)
        self.assertEqual(self.m.state(tid), 'done')
        self.assertIn('notes.txt', self.m.status(tid).get('reason', ''))

    def test_merge_is_refused_when_an_untracked_file_is_where_the_task_adds_one(self):
        tid = self.done("echo from the task > plan.md\n")
        self.write_repo_file('plan.md', 'my own plan, not in git\n')
        before = self.checkout_snapshot('plan.md')
        self.assertErrno(self.merge(tid), errno.EBUSY)
        self.assertEqual(self.checkout_snapshot('plan.md'), before)
        self.assertEqual(self.m.state(tid), 'done')
        self.assertIn('plan.md', self.m.status(tid).get('reason', ''))

    def test_merge_keeps_uncommitted_changes_in_untouched_paths(self):
        tid = self.done("sed -i 's/two/TWO/' notes.txt; rm src/old.txt\n")
        self.write_repo_file('README.md', '# demo\n\nmy unsaved edit\n')
        self.write_repo_file('scratch.txt', 'untracked scratch\n')
        self.assertEqual(self.merge(tid), 0)
        self.assertEqual(self.m.state(tid), 'merged')
        self.assertEqual(self.rev('HEAD'), self.commit_of(tid))
        self.assertEqual(self.repo_file('README.md'), '# demo\n\nmy unsaved edit\n')
        self.assertEqual(self.repo_file('scratch.txt'), 'untracked scratch\n')
        self.assertEqual(self.repo_file('notes.txt'), 'one\nTWO\nthree\n')
        self.assertFalse(os.path.exists(os.path.join(self.m.repo, 'src/old.txt')))
        self.assertEqual(self.porcelain(), ' M README.md\n?? scratch.txt\n')


class TestMergeInto(ReviewTestCase):
    """parallelai.mergeInto names a base branch other than the checkout's."""

    branches = ('release',)
    git_config = (('parallelai.mergeInto', 'release'),)

    def test_merge_into_a_branch_that_is_not_checked_out_leaves_the_checkout_alone(self):
        tid = self.done("sed -i 's/two/TWO/' notes.txt\n")
        self.assertEqual(self.conflicts_json()['branch'], 'release')
        self.assertEqual(self.conflicts_json()['tip'], self.rev('release'))
        # the user keeps editing the same file on main: no business of release
        self.write_repo_file('notes.txt', 'one\ntwo\nthree\nunsaved on main\n')
        before = self.checkout_snapshot('notes.txt')
        self.assertEqual(self.merge(tid), 0)
        self.assertEqual(self.m.state(tid), 'merged')
        self.assertEqual(self.rev('release'), self.commit_of(tid))
        self.assertEqual(self.m.events_of('merged', tid)[0]['branch'], 'release')
        self.assertEqual(self.checkout_snapshot('notes.txt'), before)

    def test_a_commit_on_the_base_branch_is_seen_as_its_tip(self):
        tid = self.done("sed -i 's/two/two by the task/' notes.txt\n")
        # a commit on main, which is not the base branch, changes nothing
        self.user_commit('notes.txt', 'one\ntwo on main\nthree\n')
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(self.m.read('merge-order'), '%d\n' % tid)


class TestMergeAll(ReviewTestCase):

    def test_merge_all_merges_every_clean_task(self):
        ids = [self.done('echo %d > file-%d.txt\n' % (i, i)) for i in range(3)]
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        for tid in ids:
            self.assertEqual(self.m.state(tid), 'merged')
        for i in range(3):
            self.assertEqual(self.repo_file('file-%d.txt' % i), '%d\n' % i)
        self.assertEqual(self.porcelain(), '')
        self.assertEqual(self.m.read('merge-order'), '')

    def test_merge_all_stops_at_a_conflict(self):
        a = self.done(edit_line(3, 'three by a'))
        b = self.done("echo b > b.txt\n")
        c = self.done(edit_line(3, 'three by c'))
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n%d\n! %d conflicts: src/long.txt\n' % (a, b, c))
        self.assertErrno(self.m.ctl('ctl', 'merge all\n'), errno.EBUSY)
        self.assertEqual(self.m.state(a), 'merged')
        self.assertEqual(self.m.state(b), 'merged')
        self.assertEqual(self.m.state(c), 'done')
        self.assertIn('three by a\n', self.repo_file('src/long.txt'))
        self.assertEqual(self.repo_file('b.txt'), 'b\n')
        self.assertEqual(self.porcelain(), '')
        self.assertTrue(self.refused_events())
        self.assertEqual(self.m.read('conflicts'), '%d main src/long.txt\n' % c)

    def test_merge_all_stops_at_the_first_refusal_and_leaves_the_rest(self):
        a = self.done("echo a > a.txt\n")
        b = self.done("sed -i 's/two/TWO/' notes.txt\n")
        c = self.done("echo c > c.txt\n")
        self.assertEqual(self.m.read('merge-order'), '%d\n%d\n%d\n' % (a, b, c))
        self.write_repo_file('notes.txt', 'one\ntwo\nthree\nunsaved\n')
        self.assertErrno(self.m.ctl('ctl', 'merge all\n'), errno.EBUSY)
        self.assertEqual([self.m.state(t) for t in (a, b, c)], ['merged', 'done', 'done'])
        self.assertEqual(self.rev('main'), self.commit_of(a))
        self.assertEqual(self.repo_file('notes.txt'), 'one\ntwo\nthree\nunsaved\n')
        self.assertFalse(os.path.exists(os.path.join(self.m.repo, 'c.txt')))
        self.assertIn('notes.txt', self.m.status(b).get('reason', ''))


TWO_COMMITS = ("echo one > s1.txt && git add s1.txt && git commit -q -m 'first step' "
               "&& echo two > s2.txt\n")


class TestSquash(ReviewTestCase):

    git_config = (('merge.strategy', 'squash'),)

    def test_squash_makes_one_commit_with_one_parent(self):
        old = self.rev('main')
        tid = self.done(TWO_COMMITS)
        self.assertEqual(git(self.m.repo, 'rev-list', '--count',
                             old + '..' + self.commit_of(tid)).strip(), '2')
        self.assertEqual(self.merge(tid), 0)
        self.assertEqual(self.m.state(tid), 'merged')
        head = self.rev('main')
        self.assertNotEqual(head, self.commit_of(tid))
        self.assertEqual(git(self.m.repo, 'rev-list', old + '..main').split(), [head])
        self.assertEqual(self.parents(head), [old])
        self.assertEqual(self.rev('main^{tree}'), self.rev(self.commit_of(tid) + '^{tree}'))
        ev = self.m.events_of('merged', tid)[0]
        self.assertEqual((ev['how'], ev['commit']), ('squash', head))
        self.assertEqual(self.repo_file('s1.txt'), 'one\n')
        self.assertEqual(self.repo_file('s2.txt'), 'two\n')
        self.assertEqual(self.porcelain(), '')

    def test_squash_after_main_moved_keeps_both(self):
        tid = self.done(TWO_COMMITS)
        old = self.user_commit('README.md', '# demo\n\nmoved by the user\n')
        self.assertEqual(self.merge(tid), 0)
        head = self.rev('main')
        self.assertEqual(git(self.m.repo, 'rev-list', old + '..main').split(), [head])
        self.assertEqual(self.parents(head), [old])
        self.assertEqual(self.m.events_of('merged', tid)[0]['how'], 'squash')
        self.assertEqual(self.repo_file('README.md'), '# demo\n\nmoved by the user\n')
        self.assertEqual(self.repo_file('s1.txt'), 'one\n')
        self.assertEqual(self.repo_file('s2.txt'), 'two\n')
        self.assertEqual(self.porcelain(), '')


class TestSquashByParallelaiKey(ReviewTestCase):

    git_config = (('parallelai.mergeStrategy', 'squash'),)

    def test_parallelai_merge_strategy_squashes(self):
        old = self.rev('main')
        tid = self.done(TWO_COMMITS)
        self.assertEqual(self.merge(tid), 0)
        head = self.rev('main')
        self.assertEqual(git(self.m.repo, 'rev-list', old + '..main').split(), [head])
        self.assertEqual(self.parents(head), [old])
        self.assertEqual(self.m.events_of('merged', tid)[0]['how'], 'squash')


class TestRebase(ReviewTestCase):

    git_config = (('merge.strategy', 'rebase'),)

    def test_rebase_keeps_history_linear(self):
        tid = self.done(TWO_COMMITS)
        old = self.user_commit('README.md', '# demo\n\nmoved by the user\n')
        self.assertEqual(self.merge(tid), 0)
        self.assertEqual(self.m.state(tid), 'merged')
        new = git(self.m.repo, 'rev-list', old + '..main').split()
        self.assertEqual(len(new), 2)
        self.assertEqual(git(self.m.repo, 'rev-list', '--merges', 'main'), '')
        self.assertEqual(self.parents(new[1]), [old])
        self.assertEqual(self.parents(new[0]), [new[1]])
        self.assertEqual(git(self.m.repo, 'log', '-1', '--format=%s', new[1]).strip(), 'first step')
        ev = self.m.events_of('merged', tid)[0]
        self.assertEqual((ev['how'], ev['commit']), ('rebase', new[0]))
        self.assertEqual(self.repo_file('README.md'), '# demo\n\nmoved by the user\n')
        self.assertEqual(self.repo_file('s1.txt'), 'one\n')
        self.assertEqual(self.repo_file('s2.txt'), 'two\n')
        self.assertEqual(self.porcelain(), '')

    def test_rebase_of_two_tasks_makes_no_merge_commit(self):
        a = self.done(edit_line(3, 'three by a'))
        b = self.done(edit_line(27, 'twenty-seven by b'))
        old = self.rev('main')
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        self.assertEqual(self.m.state(a), 'merged')
        self.assertEqual(self.m.state(b), 'merged')
        self.assertEqual(git(self.m.repo, 'rev-list', '--count', old + '..main').strip(), '2')
        self.assertEqual(git(self.m.repo, 'rev-list', '--merges', 'main'), '')
        text = self.repo_file('src/long.txt')
        self.assertIn('three by a\n', text)
        self.assertIn('twenty-seven by b\n', text)
        self.assertEqual(self.porcelain(), '')

    def test_rebase_of_a_conflicting_task_is_ebusy_and_changes_nothing(self):
        tid = self.done("sed -i 's/two/two by the task/' notes.txt\n")
        self.user_commit('notes.txt', 'one\ntwo by the user\nthree\n')
        before = self.checkout_snapshot('notes.txt')
        self.assertErrno(self.merge(tid), errno.EBUSY)
        self.assertEqual(self.checkout_snapshot('notes.txt'), before)
        self.assertEqual(self.m.state(tid), 'done')
        self.assertIn('notes.txt', self.m.status(tid).get('reason', ''))


class TestPush(ReviewTestCase):

    def test_push_sends_the_task_branch_to_origin(self):
        bare = self.bare('origin.git')
        git(self.m.repo, 'remote', 'add', 'origin', bare)
        tid = self.done("echo pushed > pushed.txt\n")
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'push\n'), 0)
        self.assertEqual(self.remote_rev(bare, 'refs/heads/pai/task-%d' % tid), self.commit_of(tid))
        self.assertEqual(paitest.run(['git', '--git-dir', bare, 'show',
                                      '%s:pushed.txt' % self.commit_of(tid)]).stdout, 'pushed\n')
        self.assertEqual(self.m.state(tid), 'done')

    def test_push_without_the_remote_fails_and_changes_nothing(self):
        tid = self.done("echo nowhere > nowhere.txt\n")
        self.assertNotEqual(self.m.ctl('tasks/%d/ctl' % tid, 'push\n'), 0)
        self.assertEqual(self.m.state(tid), 'done')
        self.assertTrue(self.refused_events())


class TestPushToNamedRemote(ReviewTestCase):

    git_config = (('parallelai.remote', 'upstream'),)

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        self.origin = self.bare('origin.git')
        self.upstream = self.bare('upstream.git')
        git(repo, 'remote', 'add', 'origin', self.origin)
        git(repo, 'remote', 'add', 'upstream', self.upstream)

    def test_push_goes_to_the_configured_remote(self):
        tid = self.done("echo up > up.txt\n")
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'push\n'), 0)
        self.assertEqual(self.remote_rev(self.upstream, 'refs/heads/pai/task-%d' % tid),
                         self.commit_of(tid))
        self.assertIsNone(self.remote_rev(self.origin, 'refs/heads/pai/task-%d' % tid))


class TestWorktreeCopy(ReviewTestCase):

    git_config = (('worktree.copy', '.env'), ('worktree.copy', 'src/local.json'))

    def test_env_file_is_copied_into_each_new_worktree(self):
        self.user_commit('.gitignore', '.env\nsrc/local.json\n')
        self.write_repo_file('.env', 'API_KEY=secret-for-tests\n')
        self.write_repo_file('src/local.json', '{"debug": true}\n')
        tid = self.done('cat .env src/local.json\n')
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('API_KEY=secret-for-tests\n', log)
        self.assertIn('{"debug": true}\n', log)
        self.assertNotIn('skipped', log)
        with open(os.path.join(self.worktree_of(tid), '.env')) as f:
            self.assertEqual(f.read(), 'API_KEY=secret-for-tests\n')
        self.assertEqual(self.m.read('tasks/%d/files' % tid), '')
        # a later task gets the file as it is now
        self.write_repo_file('.env', 'API_KEY=rotated\n')
        tid2 = self.done('cat .env\n')
        self.assertIn('API_KEY=rotated\n', self.m.read('tasks/%d/log' % tid2))

    def test_missing_copy_is_skipped_with_a_line_in_the_log(self):
        tid = self.done('echo engine ran\n')
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn("parallelai: worktree.copy: '.env' skipped: No such file or directory\n", log)
        self.assertIn("parallelai: worktree.copy: 'src/local.json' skipped: "
                      "No such file or directory\n", log)
        self.assertIn('engine ran\n', log)
        self.assertFalse(os.path.exists(os.path.join(self.worktree_of(tid), '.env')))


class TestWorktreeSetup(ReviewTestCase):

    SETUP = 'echo setting up in "$(pwd)"'
    git_config = (('worktree.setup', SETUP),)

    def test_setup_command_runs_in_the_worktree_before_the_engine(self):
        tid = self.done('echo engine ran\n')
        log = self.m.read('tasks/%d/log' % tid)
        wt = os.path.realpath(self.worktree_of(tid))
        self.assertTrue(log.startswith('parallelai: setup: %s\nsetting up in %s\n'
                                       % (self.SETUP, wt)), log)
        self.assertLess(log.index('setting up in'), log.index('engine ran'))


class TestWorktreeSetupAfterCopy(ReviewTestCase):

    git_config = (('worktree.copy', '.env'), ('worktree.setup', 'grep TOKEN .env'))

    def test_setup_sees_the_copied_files(self):
        self.user_commit('.gitignore', '.env\n')
        self.write_repo_file('.env', 'TOKEN=42\n')
        tid = self.done('true\n')
        self.assertIn('TOKEN=42\n', self.m.read('tasks/%d/log' % tid))


class TestWorktreeSetupFails(ReviewTestCase):

    git_config = (('worktree.setup', 'echo cannot install >&2; exit 3'),)

    def test_failing_setup_fails_the_task_without_running_the_engine(self):
        marker = os.path.join(self.tmp, 'engine-ran')
        tid = self.m.submit('touch %s\n' % marker)
        self.assertEqual(self.m.wait_final(tid), 'failed')
        self.assertEqual(self.m.status(tid).get('reason'), 'setup failed: exit status 3')
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('parallelai: setup: echo cannot install >&2; exit 3\n', log)
        self.assertIn('cannot install', log)
        self.assertFalse(os.path.exists(marker))


class TestPrune(ReviewTestCase):

    def four_tasks(self):
        """One merged, one cancelled, one done, one failed task."""
        merged = self.done("echo m > m.txt\n")
        self.assertEqual(self.merge(merged), 0)
        cancelled = self.m.submit('echo c > c.txt; sleep 60\n')
        self.m.wait_state(cancelled, 'running')
        self.m.pid_of(cancelled)
        self.m.ctl('tasks/%d/ctl' % cancelled, 'cancel\n')
        self.assertEqual(self.m.wait_final(cancelled, 30), 'cancelled')
        done = self.done("echo d > d.txt\n")
        failed = self.m.submit("echo f > f.txt; exit 1\n")
        self.assertEqual(self.m.wait_final(failed), 'failed')
        wts = {t: self.worktree_of(t) for t in (merged, cancelled, done, failed)}
        for t, wt in wts.items():
            self.assertTrue(os.path.isdir(wt), 'task %d has no worktree %s' % (t, wt))
            self.assertTrue(self.branch_exists('pai/task-%d' % t), 'task %d has no branch' % t)
        return merged, cancelled, done, failed, wts

    def assertPruned(self, tid, wt):
        self.assertFalse(os.path.lexists(self.m.path('tasks/%d/worktree' % tid)))
        self.assertFalse(os.path.exists(wt))
        self.assertNotIn(os.path.realpath(wt), self.git_worktrees())

    def assertKept(self, tid, wt):
        self.assertEqual(self.worktree_of(tid), wt)
        self.assertTrue(os.path.isdir(wt))
        self.assertIn(os.path.realpath(wt), self.git_worktrees())

    def test_prune_removes_merged_and_cancelled_worktrees_only(self):
        merged, cancelled, done, failed, wts = self.four_tasks()
        self.assertEqual(self.m.ctl('ctl', 'prune\n'), 0)
        self.assertPruned(merged, wts[merged])
        self.assertPruned(cancelled, wts[cancelled])
        self.assertKept(done, wts[done])
        self.assertKept(failed, wts[failed])
        for t in (merged, cancelled, done, failed):
            self.assertTrue(self.branch_exists('pai/task-%d' % t))
        self.assertEqual(sorted(e['task'] for e in self.m.events_of('pruned')),
                         sorted([merged, cancelled]))
        self.assertEqual(self.m.state(merged), 'merged')
        self.assertEqual(self.m.state(cancelled), 'cancelled')

    def test_prune_branches_removes_their_branches_too(self):
        merged, cancelled, done, failed, wts = self.four_tasks()
        self.assertEqual(self.m.ctl('ctl', 'prune branches\n'), 0)
        self.assertPruned(merged, wts[merged])
        self.assertPruned(cancelled, wts[cancelled])
        self.assertFalse(self.branch_exists('pai/task-%d' % merged))
        self.assertFalse(self.branch_exists('pai/task-%d' % cancelled))
        self.assertKept(done, wts[done])
        self.assertKept(failed, wts[failed])
        self.assertTrue(self.branch_exists('pai/task-%d' % done))
        self.assertTrue(self.branch_exists('pai/task-%d' % failed))
        # the merged work stays on main
        self.assertEqual(self.repo_file('m.txt'), 'm\n')

    def test_prune_names_a_done_task(self):
        merged, cancelled, done, failed, wts = self.four_tasks()
        self.assertEqual(self.m.ctl('ctl', 'prune %d\n' % done), 0)
        self.assertPruned(done, wts[done])
        self.assertTrue(self.branch_exists('pai/task-%d' % done))
        self.assertEqual(self.m.state(done), 'done')
        self.assertKept(merged, wts[merged])
        self.assertKept(cancelled, wts[cancelled])
        self.assertKept(failed, wts[failed])
        # its work is still there to merge
        self.assertEqual(self.merge(done), 0)
        self.assertEqual(self.repo_file('d.txt'), 'd\n')

    def test_diff_and_files_after_prune_show_what_merge_merges(self):
        """A pruned done task still merges its work: its diff and files
        say what that is (the recorded commit), not nothing."""
        tid = self.done("echo d > d.txt\n")
        diff, files = self.m.read('tasks/%d/diff' % tid), self.m.read('tasks/%d/files' % tid)
        self.assertIn('+d\n', diff)
        wt = self.worktree_of(tid)
        self.assertEqual(self.m.ctl('ctl', 'prune %d\n' % tid), 0)
        self.assertPruned(tid, wt)
        self.assertEqual(self.m.read('tasks/%d/diff' % tid), diff)
        self.assertEqual(self.m.read('tasks/%d/files' % tid), files)
        self.assertEqual(files, 'A\td.txt\n')
        self.assertEqual(self.merge(tid), 0)
        self.assertEqual(self.repo_file('d.txt'), 'd\n')

    def test_prune_branches_names_a_failed_task(self):
        merged, cancelled, done, failed, wts = self.four_tasks()
        self.assertEqual(self.m.ctl('ctl', 'prune branches %d\n' % failed), 0)
        self.assertPruned(failed, wts[failed])
        self.assertFalse(self.branch_exists('pai/task-%d' % failed))
        self.assertEqual(self.m.state(failed), 'failed')
        self.assertKept(done, wts[done])
        self.assertTrue(self.branch_exists('pai/task-%d' % done))

    def test_prune_never_takes_a_running_task(self):
        tid = self.m.submit('sleep 60\n')
        self.m.wait_state(tid, 'running')
        self.m.pid_of(tid)
        wt = self.worktree_of(tid)
        self.assertErrno(self.m.ctl('ctl', 'prune %d\n' % tid), errno.EBUSY)
        self.assertEqual(self.m.ctl('ctl', 'prune\n'), 0)
        self.assertTrue(os.path.isdir(wt))
        self.assertEqual(self.m.state(tid), 'running')
        self.assertFalse(self.m.events_of('pruned', tid))
        self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n')
        self.m.wait_final(tid, 30)

    def test_prune_of_a_missing_task_is_enoent(self):
        self.assertErrno(self.m.ctl('ctl', 'prune 999\n'), errno.ENOENT)
        self.assertTrue(self.refused_events())

    def test_status_shows_the_disk_used_by_worktrees(self):
        self.done("head -c 100000 /dev/zero > blob.bin\n")
        used = self.m.kv('status').get('worktree_bytes')
        self.assertIsNotNone(used)
        self.assertTrue(used.isdigit(), used)
        self.assertGreater(int(used), 0)
        self.assertIn('worktree_bytes', json.loads(self.m.read('status.json')))


class TestWorktreeRemovedByHand(ReviewTestCase):

    def test_done_task_with_its_worktree_removed_is_reported(self):
        tid = self.done("sed -i 's/two/TWO/' notes.txt\n")
        committed = self.m.read('tasks/%d/diff' % tid)
        paitest.remove_worktree(self.worktree_of(tid))
        st = self.m.status(tid)
        self.assertEqual(st.get('worktree_missing'), 'yes')
        self.assertEqual(self.m.state(tid), 'done')
        diff = self.m.read('tasks/%d/diff' % tid)
        if diff.startswith('parallelai: '):
            self.assertEqual(diff.count('\n'), 1, diff)
        else:
            self.assertEqual(diff, committed)
        # every other file still reads, and plain tools walk the mount
        for name in ('files', 'log', 'task.json', 'conflicts', 'prompt'):
            self.m.read('tasks/%d/%s' % (tid, name))
        self.m.read('status')
        self.m.read('conflicts')
        self.m.read('merge-order')
        r = sh('find %s -maxdepth 3 >/dev/null && ls -l %s/tasks/%d'
               % (self.m.mnt, self.m.mnt, tid))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_task_with_its_worktree_removed_still_merges(self):
        tid = self.done("echo kept > kept.txt\n")
        paitest.remove_worktree(self.worktree_of(tid))
        self.assertEqual(self.m.read('merge-order'), '%d\n' % tid)
        self.assertEqual(self.merge(tid), 0)
        self.assertEqual(self.m.state(tid), 'merged')
        self.assertEqual(self.repo_file('kept.txt'), 'kept\n')

    def test_retry_recreates_the_worktree_of_a_failed_task(self):
        # the test, not the engine, makes the marker: a sandboxed engine
        # cannot write outside its worktree
        marker = os.path.join(self.tmp, 'second-time')
        tid = self.m.submit('if [ -e %s ]; then echo again > again.txt; else exit 1; fi\n'
                            % marker)
        self.assertEqual(self.m.wait_final(tid), 'failed')
        open(marker, 'w').close()
        wt = self.worktree_of(tid)
        paitest.remove_worktree(wt)
        self.assertEqual(self.m.status(tid).get('worktree_missing'), 'yes')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), 0)
        self.assertDone(tid)
        self.assertTrue(os.path.isdir(self.worktree_of(tid)))
        self.assertNotIn('worktree_missing', self.m.status(tid))
        self.assertIn('again.txt', self.m.read('tasks/%d/files' % tid))

    def test_prune_of_a_worktree_already_removed_succeeds(self):
        tid = self.done("echo gone > gone.txt\n")
        self.assertEqual(self.merge(tid), 0)
        wt = self.worktree_of(tid)
        paitest.remove_worktree(wt)
        self.assertEqual(self.m.ctl('ctl', 'prune\n'), 0)
        self.assertFalse(os.path.lexists(self.m.path('tasks/%d/worktree' % tid)))
        self.assertNotIn(os.path.realpath(wt), self.git_worktrees())


class TestPruneBranchesLater(ReviewTestCase):

    def test_prune_branches_after_prune_removes_the_branches_left(self):
        tid = self.done('echo m > m.txt\n')
        self.assertEqual(self.merge(tid), 0)
        self.assertEqual(self.m.ctl('ctl', 'prune\n'), 0)
        self.assertEqual(self.m.ctl('ctl', 'prune branches\n'), 0)
        self.assertFalse(self.branch_exists('pai/task-%d' % tid))


class TestCopyIntoNewDirectory(ReviewTestCase):

    git_config = (('worktree.copy', 'config/local.json'),)

    def test_copy_creates_the_directories_it_needs(self):
        self.user_commit('.gitignore', 'config/\n')
        self.write_repo_file('config/local.json', '{}\n')
        tid = self.done('cat config/local.json\n')
        self.assertNotIn('skipped', self.m.read('tasks/%d/log' % tid))


class TestCopiedFileNotCommitted(ReviewTestCase):

    git_config = (('worktree.copy', '.env'),)

    def test_copied_file_is_not_part_of_the_tasks_work(self):
        self.write_repo_file('.env', 'SECRET=1\n')   # untracked, not ignored
        tid = self.done('echo work > work.txt\n')
        self.assertEqual(self.m.read('tasks/%d/files' % tid), 'A\twork.txt\n')
        self.assertEqual(self.merge(tid), 0)


if __name__ == '__main__':
    paitest.main()
