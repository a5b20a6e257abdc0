#!/usr/bin/python3
"""Input written as an attacker would: branch names that alias other refs,
globs that would hang the mount, and values that would forge lines in
status, files, conflicts or the daemon's log, or run as commands.  Each is
refused (EINVAL, with its reason in events) or quoted."""

import errno
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, wait_for  # noqa: E402

# A name sh would run a command of (issue 20): "n;echo INJECTED-$(id -u);#".
EVIL = 'n;echo INJECTED-$(id -u);#'
# A name whose newline would make a `files` line of its own.
FORGED = 'a\nstate: merged'


def spec(**fields):
    return json.dumps(fields)


class UntrustedTestCase(PaiTestCase):

    def commit_files(self, files):
        """Commit files ({path: text}) to the repository's main."""
        for rel, text in files.items():
            path = os.path.join(self.m.repo, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text)
        git(self.m.repo, 'add', '-A')
        git(self.m.repo, 'commit', '-q', '-m', 'files')


class TestBranchNames(UntrustedTestCase):

    def test_names_git_reads_as_another_ref_are_refused(self):
        main = git(self.m.repo, 'rev-parse', 'main')
        for name in ('refs/heads/main', '@', 'HEAD', '-x', 'a..b', 'a\nb',
                     'heads/main', 'FETCH_HEAD', 'x.lock'):
            with self.subTest(name=name):
                self.assertRefused(spec(prompt='true', branch=name), 'branch')
        self.assertEqual(git(self.m.repo, 'rev-parse', 'main'), main)

    def test_names_under_the_daemons_prefix_are_refused(self):
        # pai/task-2 would be the next task's own branch
        reason = self.assertRefused(spec(prompt='true', branch='pai/task-2'),
                                    "'pai/task-2'", "'pai/'")
        self.assertNotIn('\n', reason)
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid)['branch'], 'pai/task-%d' % tid)

    def test_a_tag_of_that_name_makes_it_taken(self):
        git(self.m.repo, 'tag', 'v1')
        self.assertRefused(spec(prompt='true', branch='v1'), "'v1'", 'refs/tags/v1')

    def test_a_branch_another_task_held_stays_its_own(self):
        first = self.m.submit(spec(prompt='echo one > one.txt', branch='feature'))
        self.assertDone(first)
        self.assertRefused(spec(prompt='true', branch='feature'), "'feature'")
        # even once that task's branch is gone
        self.assertEqual(self.m.ctl('ctl', 'prune branches %d\n' % first), 0)
        wait_for(lambda: not git(self.m.repo, 'branch', '--list', 'feature'),
                 msg='the branch to be pruned')
        self.assertRefused(spec(prompt='true', branch='feature'),
                           "'feature'", 'task %d' % first)

    def test_the_reduce_steps_branch_is_checked_too(self):
        for name, words in (('main', ("'main'", 'exists')), ('@', ("'@'",))):
            with self.subTest(name=name):
                self.assertRefused(spec(prompt='true', each='*.md',
                                        then={'prompt': 'true', 'branch': name}),
                                   *words)

    def test_a_plain_new_name_is_the_tasks_branch(self):
        tid = self.m.submit(spec(prompt='echo x > x.txt', branch='feature/x'))
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid)['branch'], 'feature/x')
        self.assertEqual(git(self.m.repo, 'show', 'feature/x:x.txt'), 'x\n')


class TestGlobs(UntrustedTestCase):

    def setUp(self):
        super().setUp()
        deep = '/'.join('d%d' % i for i in range(12))
        self.commit_files({deep + '/file.txt': 'deep\n'})

    def test_many_double_stars_are_answered_and_the_mount_stays_up(self):
        glob = '**/' * 40 + 'nomatch'
        text = spec(prompt='true', each=glob)
        # In a process of its own: a writer stuck in the daemon cannot be
        # killed, and the test must fail, not hang, if it is stuck.
        writer = subprocess.Popen(
            [sys.executable, '-c',
             'import os, sys\n'
             'fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)\n'
             'try:\n'
             '    os.write(fd, sys.argv[2].encode())\n'   # judged here (a whole spec)
             'finally:\n'
             '    try:\n'
             '        os.close(fd)\n'
             '    except OSError as e:\n'
             '        sys.exit(e.errno)\n',
             self.m.path('tasks/new'), text])
        self.addCleanup(lambda: writer.poll() is None and writer.kill())
        wait_for(lambda: writer.poll() is not None, 60, msg='the spec to be answered')
        self.assertErrno(writer.returncode, errno.EINVAL)
        self.assertIn('matches no file', self.refused_events()[-1]['reason'])
        self.assertEqual(self.m.task_ids(), [])
        self.assertEqual(self.m.read('status').split('\n', 1)[0], 'state: running')
        # and a glob of that shape still finds what is there
        self.assertEqual(self.m.try_new(spec(prompt='cat {file}',
                                             each='**/' * 40 + 'file.txt')), 0)
        self.assertDone(self.m.task_ids()[0])

    def test_a_glob_past_the_limits_is_einval(self):
        self.assertRefused(spec(prompt='true', each='a/' * 64 + 'b'),
                           'more than 64 segments')
        self.assertRefused(spec(prompt='true', each='x' * 1025), 'longer than 1024')
        self.assertRefused(spec(prompt='true', each='/d0/**'), 'empty segment')


class TestFileInAShellPrompt(UntrustedTestCase):

    def setUp(self):
        super().setUp()
        self.commit_files({'data/' + EVIL: 'content of the file\n'})

    def test_file_is_a_quoted_word_for_sh(self):
        self.assertEqual(self.m.try_new(spec(prompt='cat {file}', each='data/*')), 0)
        tid = self.m.task_ids()[0]
        self.assertEqual(self.m.read('tasks/%d/prompt' % tid),
                         "cat 'data/n;echo INJECTED-$(id -u);#'")
        self.assertDone(tid)
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('content of the file', log)
        self.assertNotIn('INJECTED', log)

    def test_file_is_text_for_an_agent(self):
        # an agent reads the prompt: what matters is what it is given, so
        # the queue is paused and the task never runs
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        self.assertEqual(self.m.try_new(spec(prompt='review {file}', each='data/*',
                                             engine='claude')), 0)
        tid = self.m.task_ids()[0]
        self.assertEqual(self.m.read('tasks/%d/prompt' % tid), 'review data/' + EVIL)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)


class TestJsonSpecs(UntrustedTestCase):

    def test_data_after_the_object_is_einval(self):
        self.assertRefused('{"prompt":"x"}{"prompt":"y"}', 'after the JSON object')
        self.assertRefused('{"prompt":"x"} rm -rf ~', 'after the JSON object')

    def test_a_key_given_twice_is_einval(self):
        self.assertRefused('{"prompt": "true", "prompt": "rm -rf ~"}',
                           "duplicate key 'prompt'")

    def test_a_byte_order_mark_is_skipped(self):
        tid = self.m.submit(b'\xef\xbb\xbf{"prompt": "echo bom > bom.txt", "labels": ["x"]}')
        self.assertEqual(self.m.read('tasks/%d/prompt' % tid), 'echo bom > bom.txt')
        self.assertEqual(self.m.status(tid)['labels'], 'x')
        self.assertDone(tid)

    def test_priority_has_the_range_of_ctl(self):
        self.assertRefused(spec(prompt='true', priority=2 ** 31 - 1), 'priority')
        self.assertRefused(spec(prompt='true', priority=-1000001), 'priority')
        tid = self.m.submit(spec(prompt='true', priority=1000000))
        self.assertEqual(self.m.status(tid)['priority'], '1000000')


class TestForgedLines(UntrustedTestCase):

    def test_newlines_in_shown_fields_are_einval(self):
        self.assertRefused(spec(prompt='true', model='x\nstate: merged'),
                           "'model'", 'control characters')
        self.assertRefused(spec(prompt='true', labels=['ui', 'x\nstate: merged']),
                           "'labels'", 'control characters')
        self.assertRefused(spec(prompt='true', engine='sh\nstate: merged'), "'engine'")

    def test_a_refused_value_forges_no_line_of_the_daemons_log(self):
        self.assertRefused('{"prompt": "true", "x\\nparallelai: forged": 1}',
                           'unknown field')
        log = self.m.stderr_text()
        self.assertIn("unknown field 'x\\nparallelai: forged'", log)
        self.assertNotIn('\nparallelai: forged', log)

    def test_files_quotes_paths_as_git_does(self):
        tid = self.m.submit("printf 1 > \"$(printf 'a\\nstate: merged')\";"
                            " printf 2 > \u00e9t\u00e9; printf 3 > plain.txt\n")
        self.assertDone(tid)
        st = self.m.status(tid)
        self.assertEqual(self.m.read('tasks/%d/files' % tid),
                         git(self.m.repo, 'diff', '--name-status', st['base'], st['commit']))
        self.assertEqual(self.m.read('tasks/%d/files' % tid),
                         'A\t"a\\nstate: merged"\nA\tplain.txt\nA\t"\\303\\251t\\303\\251"\n')

    def test_conflicts_and_reasons_quote_paths(self):
        a = self.m.submit("printf a > \"$(printf 'a\\nstate: merged')\"\n")
        b = self.m.submit("printf b > \"$(printf 'a\\nstate: merged')\"\n")
        self.assertDone(a)
        self.assertDone(b)
        self.assertEqual(self.m.read('conflicts'), '%d %d "a\\nstate: merged"\n' % (a, b))
        self.assertEqual(self.m.read('tasks/%d/conflicts' % a), '%d "a\\nstate: merged"\n' % b)
        self.assertEqual(self.m.read('merge-order'),
                         '%d\n! %d conflicts: "a\\nstate: merged"\n' % (a, b))
        # a task that needs both is blocked; its reason names the path
        c = self.m.submit(spec(prompt='true', depends=[a, b]))
        self.assertEqual(self.m.wait_state(c, 'blocked'), 'blocked')
        status = self.m.read('tasks/%d/status' % c)
        self.assertIn('"a\\nstate: merged"', status)
        self.assertNotIn('\nstate: merged', status)


if __name__ == '__main__':
    paitest.main()
