#!/usr/bin/env python3
"""A finished task whose branch was deleted outside parallelai, and a
worktree directory deleted by hand.

The user throws a task's work away the way git lets them: `git worktree
remove --force` and `git branch -D`, or `rm -rf` of the worktree, `git
worktree prune` and `git branch -D`.  The task must then be seen as what
it is (status `branch_missing: yes`, its recorded commit still shown),
leave `conflicts` and `merge-order`, be passed over by `merge all` with
an event, be refused by `merge` with ENOENT, and be handled by `retry`
(a new branch from its base) and `prune`.
"""

import errno
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git  # noqa: E402

LONG = ''.join('line %d\n' % i for i in range(1, 31))


def edit_line(n, text):
    """A prompt that replaces line n of long.txt with text."""
    return "sed -i 's/^line %d$/%s/' long.txt\n" % (n, text)


class BranchGoneTestCase(PaiTestCase):

    def prepare_repo(self, repo):
        with open(os.path.join(repo, 'long.txt'), 'w') as f:
            f.write(LONG)
        git(repo, 'add', 'long.txt')
        git(repo, 'commit', '-q', '-m', 'a long file')

    def done(self, prompt):
        tid = self.m.submit(prompt)
        self.assertDone(tid)
        return tid

    def worktree_of(self, tid):
        return os.readlink(self.m.path('tasks/%d/worktree' % tid))

    def branch_exists(self, name):
        r = paitest.run(['git', '-C', self.m.repo, 'rev-parse', '--verify', '-q',
                         'refs/heads/' + name])
        return r.returncode == 0

    def rev(self, name):
        return git(self.m.repo, 'rev-parse', name).strip()

    def repo_has(self, rel):
        return os.path.exists(os.path.join(self.m.repo, rel))

    def remove_with_git(self, tid):
        """git worktree remove --force, then git branch -D (an overlay:
        unmounted and unlocked, its mount point removed, prune)."""
        wt = self.worktree_of(tid)
        if os.path.ismount(wt):
            paitest.remove_worktree(wt, self.m.repo)
            git(self.m.repo, 'worktree', 'prune')
        else:
            git(self.m.repo, 'worktree', 'remove', '--force', wt)
        git(self.m.repo, 'branch', '-D', 'pai/task-%d' % tid)
        self.assertFalse(self.branch_exists('pai/task-%d' % tid))

    def remove_by_hand(self, tid):
        """rm -rf of the worktree, git worktree prune, git branch -D."""
        paitest.remove_worktree(self.worktree_of(tid), self.m.repo)
        git(self.m.repo, 'worktree', 'prune')
        git(self.m.repo, 'branch', '-D', 'pai/task-%d' % tid)
        self.assertFalse(self.branch_exists('pai/task-%d' % tid))

    def last_reason(self, name, tid=None):
        evs = self.m.events_of(name, tid)
        self.assertTrue(evs, 'no %s event for task %s' % (name, tid))
        return evs[-1].get('reason')


class TestSeenAsWhatItIs(BranchGoneTestCase):

    def test_status_says_branch_missing_and_keeps_its_name(self):
        a = self.done('echo a > a.txt\n')
        b = self.done('echo b > b.txt\n')
        self.remove_with_git(a)
        st = self.m.status(a)
        self.assertEqual(self.m.state(a), 'done')
        self.assertEqual(st.get('branch'), 'pai/task-%d' % a)
        self.assertEqual(st.get('branch_missing'), 'yes')
        self.assertEqual(json.loads(self.m.read('tasks/%d/task.json' % a))
                         .get('branch_missing'), 'yes')
        self.assertNotIn('branch_missing', self.m.status(b))
        self.assertIn('branch_missing: yes', self.m.read('README'))

    def test_diff_and_files_still_show_the_recorded_commit(self):
        tid = self.done("echo new > new.txt && sed -i 's/two/TWO/' notes.txt\n")
        diff = self.m.read('tasks/%d/diff' % tid)
        files = self.m.read('tasks/%d/files' % tid)
        self.assertIn('+TWO', diff)
        self.remove_by_hand(tid)
        self.assertEqual(self.m.read('tasks/%d/diff' % tid), diff)
        self.assertEqual(self.m.read('tasks/%d/files' % tid), files)

    def test_diff_and_files_say_so_when_the_commit_is_gone_too(self):
        tid = self.done('echo lost > lost.txt\n')
        commit = self.m.status(tid)['commit']
        self.remove_with_git(tid)
        git(self.m.repo, 'reflog', 'expire', '--expire=now', '--all')
        git(self.m.repo, 'gc', '-q', '--prune=now')
        r = paitest.run(['git', '-C', self.m.repo, 'cat-file', '-e', commit])
        self.assertNotEqual(r.returncode, 0, 'gc kept the commit')
        want = ("parallelai: branch 'pai/task-%d' is missing and its commit %s"
                " is gone\n" % (tid, commit[:12]))
        self.assertEqual(self.m.read('tasks/%d/diff' % tid), want)
        self.assertEqual(self.m.read('tasks/%d/files' % tid), want)
        # the rest of the mount is not held up by the lost commit
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(self.m.read('merge-order'), '')

    def test_it_leaves_conflicts_and_merge_order(self):
        a = self.done('echo a > a.txt\n')
        b = self.done(edit_line(3, 'three by b'))
        c = self.done(edit_line(3, 'three by c'))
        self.assertEqual(self.m.read('conflicts'), '%d %d long.txt\n' % (b, c))
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n%d\n! %d conflicts: long.txt\n' % (a, b, c))
        self.remove_with_git(b)
        self.assertEqual(self.m.read('conflicts'), '')
        self.assertEqual(json.loads(self.m.read('conflicts.json'))['conflicts'], [])
        self.assertEqual(self.m.read('merge-order'), '%d\n%d\n' % (a, c))
        self.assertEqual(self.m.read('tasks/%d/conflicts' % c), '')
        self.assertEqual(self.m.read('tasks/%d/conflicts' % b),
                         "! branch 'pai/task-%d' is missing\n" % b)

    def test_cancel_says_what_to_do_instead(self):
        tid = self.done('echo a > a.txt\n')
        self.remove_with_git(tid)
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), errno.EBUSY)
        reason = self.last_reason('refused', tid)
        self.assertIn("branch 'pai/task-%d' is missing" % tid, reason)
        self.assertIn('retry', reason)
        self.assertEqual(self.m.state(tid), 'done')


class TestMerge(BranchGoneTestCase):

    def test_merge_all_goes_on_past_it_and_reports_it(self):
        a = self.done('echo a > a.txt\n')
        b = self.done('echo b > b.txt\n')
        c = self.done('echo c > c.txt\n')
        self.remove_with_git(b)
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        self.assertEqual([self.m.state(t) for t in (a, b, c)],
                         ['merged', 'done', 'merged'])
        self.assertTrue(self.repo_has('a.txt'))
        self.assertTrue(self.repo_has('c.txt'))
        self.assertFalse(self.repo_has('b.txt'))
        self.assertEqual(self.last_reason('skipped', b),
                         "cannot merge task %d: branch 'pai/task-%d' is missing" % (b, b))
        self.assertEqual(self.m.events_of('skipped', a) + self.m.events_of('skipped', c), [])
        self.assertEqual(self.m.read('merge-order'), '')
        # again: nothing left to merge, the lost one reported again
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        self.assertEqual(len(self.m.events_of('skipped', b)), 2)

    def test_merging_it_is_enoent_with_the_reason(self):
        tid = self.done('echo a > a.txt\n')
        main = self.rev('main')
        self.remove_with_git(tid)
        want = "cannot merge task %d: branch 'pai/task-%d' is missing" % (tid, tid)
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % tid, 'merge\n'), errno.ENOENT)
        self.assertEqual(self.last_reason('refused', tid), want)
        self.assertErrno(self.m.ctl('ctl', 'merge %d\n' % tid), errno.ENOENT)
        self.assertEqual(self.m.events_of('refused')[-1].get('reason'), want)
        self.assertIn('parallelai: refused: ' + want, self.m.stderr_text())
        self.assertEqual(self.m.state(tid), 'done')
        self.assertEqual(self.rev('main'), main)
        self.assertFalse(self.repo_has('a.txt'))

    def test_a_branch_made_again_merges(self):
        tid = self.done('echo a > a.txt\n')
        commit = self.m.status(tid)['commit']
        self.remove_with_git(tid)
        self.assertEqual(self.m.read('merge-order'), '')
        git(self.m.repo, 'branch', 'pai/task-%d' % tid, commit)
        self.assertNotIn('branch_missing', self.m.status(tid))
        self.assertEqual(self.m.read('merge-order'), '%d\n' % tid)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'merge\n'), 0)
        self.assertEqual(self.m.state(tid), 'merged')
        self.assertTrue(self.repo_has('a.txt'))


class TestRetry(BranchGoneTestCase):

    def test_retry_runs_it_again_on_a_new_branch_from_its_base(self):
        tid = self.done('echo run >> runs.txt\n')
        base = self.m.status(tid)['base']
        self.remove_with_git(tid)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), 0)
        self.assertDone(tid)
        st = self.m.status(tid)
        self.assertNotIn('branch_missing', st)
        self.assertNotIn('worktree_missing', st)
        self.assertEqual(st['attempts'], '2')
        branch = 'pai/task-%d' % tid
        self.assertEqual(self.rev(branch), st['commit'])
        self.assertEqual(self.rev(branch + '~1'), base)
        self.assertEqual(git(self.m.repo, 'show', branch + ':runs.txt'), 'run\n')
        self.assertTrue(os.path.isdir(self.worktree_of(tid)))
        self.assertEqual(self.m.read('tasks/%d/files' % tid), 'A\truns.txt\n')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'merge\n'), 0)
        self.assertTrue(self.repo_has('runs.txt'))

    def test_retry_of_a_failed_task_whose_branch_was_removed_by_hand(self):
        # the test, not the engine, makes the marker: a sandboxed engine
        # cannot write outside its worktree
        marker = os.path.join(self.tmp, 'second-time')
        tid = self.m.submit('echo half > half.txt; [ -e %s ] || exit 1\n' % marker)
        self.assertEqual(self.m.wait_final(tid), 'failed')
        open(marker, 'w').close()
        self.remove_by_hand(tid)
        self.assertEqual(self.m.status(tid).get('branch_missing'), 'yes')
        self.assertEqual(self.m.ctl('ctl', 'retry %d\n' % tid), 0)
        self.assertDone(tid)
        self.assertEqual(self.m.read('tasks/%d/files' % tid), 'A\thalf.txt\n')
        self.assertTrue(self.branch_exists('pai/task-%d' % tid))

    def test_retry_waits_for_a_prune_while_its_worktree_is_left(self):
        tid = self.done('echo a > a.txt\n')
        wt = self.worktree_of(tid)
        # the branch deleted under its worktree, which git branch -D refuses
        git(self.m.repo, 'update-ref', '-d', 'refs/heads/pai/task-%d' % tid)
        self.assertEqual(self.m.status(tid).get('branch_missing'), 'yes')
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), errno.EBUSY)
        self.assertEqual(self.last_reason('refused', tid),
                         "cannot retry task %d: branch 'pai/task-%d' is missing but"
                         " worktree '%s' is still there (prune %d removes it)"
                         % (tid, tid, wt, tid))
        self.assertEqual(self.m.state(tid), 'done')
        self.assertTrue(os.path.isdir(wt))
        self.assertEqual(self.m.ctl('ctl', 'prune %d\n' % tid), 0)
        self.assertFalse(os.path.exists(wt))
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), 0)
        self.assertDone(tid)
        self.assertEqual(self.m.read('tasks/%d/files' % tid), 'A\ta.txt\n')

    def test_a_done_task_with_its_branch_keeps_refusing_retry(self):
        tid = self.done('echo a > a.txt\n')
        paitest.remove_worktree(self.worktree_of(tid))
        self.assertErrno(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), errno.EBUSY)
        self.assertEqual(self.m.state(tid), 'done')


class TestPrune(BranchGoneTestCase):

    def test_prune_clears_away_a_task_removed_by_hand(self):
        tid = self.done('echo a > a.txt\n')
        kept = self.done('echo k > k.txt\n')
        diff = self.m.read('tasks/%d/diff' % tid)
        wt = self.worktree_of(tid)
        self.remove_by_hand(tid)
        st = self.m.status(tid)
        self.assertEqual(st.get('worktree_missing'), 'yes')
        self.assertEqual(st.get('branch_missing'), 'yes')
        self.assertEqual(self.m.ctl('ctl', 'prune\n'), 0)
        self.assertFalse(os.path.lexists(self.m.path('tasks/%d/worktree' % tid)))
        self.assertEqual([e['worktree'] for e in self.m.events_of('pruned', tid)], [wt])
        st = self.m.status(tid)
        self.assertNotIn('worktree', st)
        self.assertEqual(st.get('branch_missing'), 'yes')
        self.assertEqual(self.m.state(tid), 'done')
        # the recorded commit is still what it did
        self.assertEqual(self.m.read('tasks/%d/diff' % tid), diff)
        # a done task that still has its branch keeps its worktree
        self.assertTrue(os.path.isdir(self.worktree_of(kept)))
        self.assertFalse(self.m.events_of('pruned', kept))

    def test_prune_branches_of_it_by_id_succeeds(self):
        tid = self.done('echo a > a.txt\n')
        self.remove_with_git(tid)
        self.assertEqual(self.m.ctl('ctl', 'prune branches %d\n' % tid), 0)
        self.assertFalse(os.path.lexists(self.m.path('tasks/%d/worktree' % tid)))
        self.assertEqual(self.m.events_of('pruned', tid)[-1].get('branch'),
                         'pai/task-%d' % tid)
        self.assertEqual(self.m.ctl('ctl', 'prune branches %d\n' % tid), 0)


class TestWorktreeRemovedWhileRunning(BranchGoneTestCase):

    def test_the_task_fails_saying_so_and_retry_makes_it_anew(self):
        go = os.path.join(self.tmp, 'go')
        tid = self.m.submit('echo a > a.txt; while [ ! -e %s ]; do sleep 0.05; done\n' % go)
        self.m.wait_state(tid, 'running')
        self.m.pid_of(tid)
        wt = self.worktree_of(tid)
        paitest.wait_for(lambda: os.path.exists(os.path.join(wt, 'a.txt')), 30,
                         msg='a.txt in the worktree')
        paitest.remove_worktree(wt)
        self.assertEqual(self.m.read('tasks/%d/diff' % tid),
                         "parallelai: worktree '%s' is missing\n" % wt)
        open(go, 'w').close()
        self.assertEqual(self.m.wait_final(tid), 'failed')
        st = self.m.status(tid)
        self.assertEqual(st.get('reason'), "cannot commit task %d: worktree '%s' was"
                         " removed while it ran" % (tid, wt))
        self.assertEqual(st.get('worktree_missing'), 'yes')
        self.assertNotIn('branch_missing', st)
        self.assertEqual(self.m.read('tasks/%d/files' % tid),
                         "parallelai: worktree '%s' is missing\n" % wt)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'retry\n'), 0)
        self.assertDone(tid)
        self.assertEqual(self.m.read('tasks/%d/files' % tid), 'A\ta.txt\n')


if __name__ == '__main__':
    paitest.main()
