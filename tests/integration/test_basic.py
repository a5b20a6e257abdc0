#!/usr/bin/python3
"""A prompt written into tasks/new runs, and its files tell the story."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, sh  # noqa: E402


class TestTaskFiles(PaiTestCase):

    def test_echo_into_new_makes_a_task_that_ends_done(self):
        r = sh("echo 'echo hello > hello.txt' > %s/tasks/new" % self.m.mnt)
        self.assertEqual(r.returncode, 0, r.stderr)
        ids = self.m.task_ids()
        self.assertEqual(len(ids), 1, ids)
        tid = ids[0]
        self.assertDone(tid)

    def test_cat_status_shows_state_and_keys(self):
        tid = self.m.submit('echo hello > hello.txt\n')
        self.m.wait_final(tid)
        r = sh('cat %s/tasks/%d/status' % (self.m.mnt, tid))
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], 'done')
        kv = paitest.parse_kv('\n'.join(lines[1:]))
        self.assertEqual(kv.get('id'), str(tid))
        self.assertEqual(kv.get('engine'), 'sh')
        self.assertEqual(kv.get('exit'), '0')
        self.assertEqual(kv.get('attempts'), '1')
        self.assertEqual(kv.get('branch'), 'pai/task-%d' % tid)
        head = git(self.m.repo, 'rev-parse', 'HEAD').strip()
        self.assertEqual(kv.get('base'), head)
        branch_tip = git(self.m.repo, 'rev-parse', 'pai/task-%d' % tid).strip()
        self.assertEqual(kv.get('commit'), branch_tip)
        for key in ('created', 'started', 'finished'):
            self.assertTrue(kv.get(key), 'status has no %s:\n%s' % (key, r.stdout))
        for line in lines[1:]:
            self.assertRegex(line, r'^[a-z_]+: ', 'not a key: value line')

    def test_cat_log_shows_stdout_and_stderr(self):
        tid = self.m.submit('echo to-stdout; echo to-stderr >&2\n')
        self.m.wait_final(tid)
        r = sh('cat %s/tasks/%d/log' % (self.m.mnt, tid))
        self.assertIn('to-stdout', r.stdout)
        self.assertIn('to-stderr', r.stdout)

    def test_cat_diff_shows_new_file_against_base(self):
        tid = self.m.submit("printf 'brand new content\\n' > added.txt\n")
        self.assertDone(tid)
        diff = self.m.read('tasks/%d/diff' % tid)
        self.assertIn('added.txt', diff)
        self.assertIn('+brand new content', diff)
        self.assertIn('@@', diff)

    def test_cat_diff_shows_modified_file(self):
        tid = self.m.submit("echo four >> notes.txt\n")
        self.assertDone(tid)
        diff = self.m.read('tasks/%d/diff' % tid)
        self.assertIn('--- a/notes.txt', diff)
        self.assertIn('+++ b/notes.txt', diff)
        self.assertIn('+four', diff)

    def test_cat_files_lists_added_modified_deleted(self):
        tid = self.m.submit('echo new > added.txt; echo more >> README.md; rm src/old.txt\n')
        self.assertDone(tid)
        files = self.m.read('tasks/%d/files' % tid).splitlines()
        self.assertIn('A\tadded.txt', files)
        self.assertIn('M\tREADME.md', files)
        self.assertIn('D\tsrc/old.txt', files)
        self.assertEqual(len(files), 3, files)

    def test_cat_prompt_gives_exact_bytes(self):
        prompt = 'echo "caf\u00e9 \u2603"\n  # indented comment\n\n'
        tid = self.m.submit(prompt)
        self.assertEqual(self.m.read_bytes('tasks/%d/prompt' % tid), prompt.encode())
        self.m.wait_final(tid)
        self.assertEqual(self.m.read_bytes('tasks/%d/prompt' % tid), prompt.encode())

    def test_task_json_is_one_object_with_state_and_prompt(self):
        prompt = 'echo json-me\n'
        tid = self.m.submit(prompt)
        self.m.wait_final(tid)
        obj = json.loads(self.m.read('tasks/%d/task.json' % tid))
        self.assertIsInstance(obj, dict)
        self.assertEqual(obj.get('state'), 'done')
        self.assertEqual(obj.get('prompt'), prompt)
        self.assertEqual(str(obj.get('id')), str(tid))
        self.assertEqual(obj.get('engine'), 'sh')
        self.assertEqual(str(obj.get('exit')), '0')
        self.assertEqual(obj.get('branch'), 'pai/task-%d' % tid)
        status = self.m.status(tid)
        for key in ('base', 'commit', 'attempts'):
            self.assertEqual(str(obj.get(key)), status.get(key), key)

    def test_changes_are_committed_on_task_branch(self):
        tid = self.m.submit("printf 'committed\\n' > fresh.txt\n")
        self.assertDone(tid)
        branch = 'pai/task-%d' % tid
        self.assertEqual(git(self.m.repo, 'show', '%s:fresh.txt' % branch), 'committed\n')
        base = self.m.status(tid)['base']
        self.assertEqual(git(self.m.repo, 'rev-parse', branch + '^').strip(), base)
        msg = git(self.m.repo, 'log', '-1', '--format=%B', branch)
        self.assertIn(str(tid), msg)
        self.assertIn("printf 'committed", msg)   # the prompt's first line

    def test_base_is_head_at_submission(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        old_head = git(self.m.repo, 'rev-parse', 'HEAD').strip()
        a = self.m.submit('cat later.txt 2>/dev/null || echo no-later\n')
        with open(os.path.join(self.m.repo, 'later.txt'), 'w') as f:
            f.write('added by the user later\n')
        git(self.m.repo, 'add', 'later.txt')
        git(self.m.repo, 'commit', '-q', '-m', 'later')
        new_head = git(self.m.repo, 'rev-parse', 'HEAD').strip()
        b = self.m.submit('cat later.txt\n')
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        self.assertDone(a)
        self.assertDone(b)
        self.assertEqual(self.m.status(a).get('base'), old_head)
        self.assertEqual(self.m.status(b).get('base'), new_head)
        self.assertIn('no-later', self.m.read('tasks/%d/log' % a))
        self.assertIn('added by the user later', self.m.read('tasks/%d/log' % b))

    def test_failing_command_ends_failed_with_exit_code(self):
        tid = self.m.submit('echo about-to-fail; exit 3\n')
        self.assertEqual(self.m.wait_final(tid), 'failed')
        self.assertEqual(self.m.status(tid).get('exit'), '3')
        self.assertIn('about-to-fail', self.m.read('tasks/%d/log' % tid))

    def test_engine_killed_by_signal_ends_failed(self):
        tid = self.m.submit('echo before-kill; kill -9 $$\n')
        self.assertEqual(self.m.wait_final(tid), 'failed')
        self.assertIn('before-kill', self.m.read('tasks/%d/log' % tid))

    def test_json_spec_without_engine_uses_default(self):
        tid = self.m.submit('{"prompt": "echo only-prompt"}')
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('engine'), 'sh')
        self.assertIn('only-prompt', self.m.read('tasks/%d/log' % tid))

    def test_engine_gets_pai_environment(self):
        prompt = 'env | grep ^PAI_ | sort > pai-env.txt; pwd -P > pwd.txt; cat "$PAI_PROMPT_FILE" > pf.txt\n'
        tid = self.m.submit(prompt)
        self.assertDone(tid)
        branch = 'pai/task-%d' % tid
        env = dict(line.split('=', 1) for line in
                   git(self.m.repo, 'show', branch + ':pai-env.txt').splitlines() if '=' in line)
        self.assertEqual(env.get('PAI_TASK_ID'), str(tid))
        self.assertEqual(env.get('PAI_BRANCH'), branch)
        self.assertEqual(env.get('PAI_PROMPT', '') + '\n', prompt)
        pwd = git(self.m.repo, 'show', branch + ':pwd.txt').strip()
        self.assertEqual(os.path.realpath(env.get('PAI_WORKTREE', '')), pwd)
        self.assertEqual(git(self.m.repo, 'show', branch + ':pf.txt'), prompt)

    def test_worktree_symlink_shows_task_files(self):
        tid = self.m.submit('echo wt > in-worktree.txt\n')
        self.m.wait_final(tid)
        link = self.m.path('tasks/%d/worktree' % tid)
        self.assertTrue(os.path.islink(link))
        target = os.readlink(link)
        self.assertTrue(os.path.isabs(target), target)
        self.assertNotEqual(os.path.realpath(target), os.path.realpath(self.m.repo))
        names = os.listdir(link)
        self.assertIn('in-worktree.txt', names)
        self.assertIn('README.md', names)

    def test_json_spec_runs_with_named_engine(self):
        tid = self.m.submit('{"prompt": "echo from-json-spec", "engine": "sh"}')
        self.assertDone(tid)
        self.assertIn('from-json-spec', self.m.read('tasks/%d/log' % tid))
        self.assertEqual(self.m.status(tid).get('engine'), 'sh')
        self.assertEqual(self.m.read('tasks/%d/prompt' % tid), 'echo from-json-spec')

    def test_shell_brace_group_is_a_command_not_json(self):
        tid = self.m.submit('{ echo brace-a; echo brace-b; }\n')
        self.assertDone(tid)
        self.assertEqual(self.m.status(tid).get('engine'), 'sh')
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('brace-a\nbrace-b', log)

    def test_append_redirect_creates_task(self):
        r = sh('echo "echo appended" >> %s/tasks/new' % self.m.mnt)
        self.assertEqual(r.returncode, 0, r.stderr)
        ids = self.m.task_ids()
        self.assertEqual(len(ids), 1, ids)
        self.assertEqual(self.m.read('tasks/%d/prompt' % ids[0]), 'echo appended\n')

    def test_diff_and_files_show_changes_while_running(self):
        go = os.path.join(self.tmp, 'go')
        tid = self.m.submit("printf 'in progress\\n' > wip.txt; while [ ! -e %s ]; do sleep 0.1; done\n" % go)
        self.m.wait_state(tid, 'running')
        paitest.wait_for(lambda: 'wip.txt' in os.listdir(self.m.path('tasks/%d/worktree' % tid)), 20,
                         msg='wip.txt in the worktree')
        self.assertIn('+in progress', self.m.read('tasks/%d/diff' % tid))
        self.assertIn('A\twip.txt', self.m.read('tasks/%d/files' % tid).splitlines())
        open(go, 'w').close()
        self.assertDone(tid)

    def test_queued_task_shows_queued_without_worker(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        tid = self.m.submit('true\n')
        self.assertEqual(self.m.read('tasks/%d/status' % tid).splitlines()[0], 'queued')
        self.assertFalse(os.path.lexists(self.m.path('tasks/%d/worker' % tid)))
        self.assertEqual(self.m.read('tasks/%d/log' % tid), '')
        self.assertEqual(json.loads(self.m.read('tasks/%d/task.json' % tid)).get('state'), 'queued')
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        self.assertDone(tid)

    def test_read_write_handle_reads_back_new_id(self):
        before = set(self.m.task_ids())
        fd = os.open(self.m.path('tasks/new'), os.O_RDWR)
        try:
            os.write(fd, b'echo read-back\n')
            got = os.pread(fd, 64, 0)
        finally:
            os.close(fd)
        created = sorted(set(self.m.task_ids()) - before)
        self.assertEqual(len(created), 1, created)
        self.assertEqual(got, b'%d\n' % created[0])

    def test_python_r_plus_reads_back_new_id(self):
        before = set(self.m.task_ids())
        with open(self.m.path('tasks/new'), 'r+') as f:
            f.write('echo r-plus\n')
            f.flush()
            f.seek(0)
            got = f.read()
        created = sorted(set(self.m.task_ids()) - before)
        self.assertEqual(len(created), 1, created)
        self.assertEqual(got, '%d\n' % created[0])

    def test_dup_fds_create_exactly_one_task(self):
        fd = os.open(self.m.path('tasks/new'), os.O_WRONLY)
        fd2 = os.dup(fd)
        fd3 = os.dup(fd)
        os.write(fd, b'echo dup-once\n')
        os.close(fd2)
        os.close(fd)
        os.close(fd3)
        ids = self.m.task_ids()
        self.assertEqual(len(ids), 1, ids)
        self.assertEqual(self.m.read('tasks/%d/prompt' % ids[0]), 'echo dup-once\n')

    def test_events_record_created_started_finished(self):
        tid = self.m.submit('exit 5\n')
        self.m.wait_final(tid)
        evs = self.m.events()
        for e in evs:
            self.assertIn('time', e)
            self.assertIn('event', e)
        names = [e['event'] for e in evs if e.get('task') == tid]
        for n in ('created', 'started', 'finished'):
            self.assertIn(n, names)
        self.assertLess(names.index('created'), names.index('started'))
        self.assertLess(names.index('started'), names.index('finished'))
        fin = [e for e in evs if e.get('task') == tid and e['event'] == 'finished'][0]
        self.assertEqual(fin.get('state'), 'failed')
        self.assertEqual(fin.get('exit'), 5)

    def test_root_status_counts_tasks_per_state(self):
        a = self.m.submit('true\n')
        b = self.m.submit('false\n')
        self.m.wait_final(a)
        self.m.wait_final(b)
        kv = self.m.kv('status')
        self.assertEqual(kv.get('workers'), '2')
        self.assertEqual(kv.get('done'), '1')
        self.assertEqual(kv.get('failed'), '1')
        self.assertEqual(kv.get('queued'), '0')
        self.assertEqual(kv.get('running'), '0')
        self.assertEqual(kv.get('busy'), '0')
        self.assertEqual(kv.get('cancelled'), '0')
        self.assertEqual(kv.get('state'), 'running')
        # a date, not an uptime: an idle mount's status does not change
        self.assertRegex(kv.get('started', ''), r'^\d{4}-\d\d-\d\dT')
        self.assertNotIn('uptime', kv)

    def test_status_json_matches_status(self):
        tid = self.m.submit('true\n')
        self.m.wait_final(tid)
        kv = self.m.kv('status')
        obj = json.loads(self.m.read('status.json'))
        for key in ('workers', 'busy', 'queued', 'running', 'done', 'failed', 'cancelled', 'state'):
            self.assertIn(key, obj)
            self.assertEqual(str(obj[key]), kv[key], key)

    def test_running_task_links_worker_and_worker_links_task(self):
        tid = self.m.submit('sleep 60\n')
        self.m.wait_state(tid, 'running')
        self.m.pid_of(tid)
        st = self.m.status(tid)
        k = self.m.worker_of(tid)
        self.assertIsNotNone(k, st)
        self.assertEqual(os.readlink(self.m.path('tasks/%d/worker' % tid)), '../../workers/%d' % k)
        self.assertEqual(os.readlink(self.m.path('workers/%d/task' % k)), '../../tasks/%d' % tid)
        self.assertEqual(os.path.realpath(self.m.path('workers/%d/worktree' % k)),
                         os.path.realpath(self.m.path('tasks/%d/worktree' % tid)))
        wst = self.m.read('workers/%d/status' % k)
        self.assertEqual(wst.splitlines()[0], 'running %d' % tid)
        wkv = paitest.parse_kv(wst)
        self.assertEqual(wkv.get('task'), str(tid))
        self.assertEqual(wkv.get('pid'), st.get('pid'))
        self.assertTrue(wkv.get('since'))
        self.assertTrue(paitest.pid_alive(int(st['pid'])))
        self.assertEqual(self.m.kv('status').get('busy'), '1')
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.m.wait_final(tid)

    def test_idle_worker_says_idle(self):
        for k in (1, 2):
            self.assertEqual(self.m.read('workers/%d/status' % k).splitlines()[0], 'idle')
            self.assertFalse(os.path.lexists(self.m.path('workers/%d/task' % k)))

    def test_finished_task_has_no_worker_link(self):
        tid = self.m.submit('true\n')
        self.m.wait_final(tid)
        self.assertFalse(os.path.lexists(self.m.path('tasks/%d/worker' % tid)))

    def test_files_not_real_yet_are_absent(self):
        tid = self.m.submit('true\n')
        self.m.wait_final(tid)
        # an sh task has no result or raw stream
        for rel in ('tasks/%d/result' % tid, 'tasks/%d/log.jsonl' % tid):
            self.assertFalse(os.path.lexists(self.m.path(rel)), rel)
        self.assertEqual(sorted(os.listdir(self.m.mnt)),
                         ['README', 'approvals', 'audit', 'conflicts',
                          'conflicts.json', 'ctl', 'events',
                          'index.html', 'merge-order', 'metrics', 'plans', 'queue',
                          'queue.json', 'status', 'status.json', 'tasks',
                          'templates', 'timeline.svg', 'workers'])

    def test_readme_describes_layout(self):
        text = self.m.read('README')
        for word in ('tasks/new', 'ctl', 'status', 'workers', 'metrics'):
            self.assertIn(word, text)


if __name__ == '__main__':
    paitest.main()
