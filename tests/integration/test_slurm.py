#!/usr/bin/python3
"""backend=slurm: tasks run as SLURM batch jobs on a real single-node
cluster on localhost (tests/slurm/cluster: munged, slurmctld, slurmd, in a
private directory under the build directory, SLURM_CONF set for the
daemon and the clients).

sh tasks run as jobs and commit on their branches; tail -f follows a
job's log; cancel ends a job whose engine ignores SIGTERM and left a
setsid child; a timeout ends a job; kill -9 of the daemon with 8 jobs
running, then a remount, records each run once (no second job); the
controller stopped and started again mid-run; a job SLURM refuses (a bad
partition) fails at once with sbatch's message; a mount on tmpfs is
refused; a job that ends without an exit status fails its task; 1,000
`true` tasks each done exactly once (PAI_SLURM_MANY=N for another number).

Skips (exit 77) only when SLURM cannot be installed or started here.
Repositories, state and worktrees live under the build directory, not in
/tmp, which may be a tmpfs the mount refuses for backend=slurm.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# tests/llm_server.py, the loopback LLM server
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import paitest  # noqa: E402
from paitest import PaiTestCase, git, pid_alive, run, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, '..', 'slurm', 'cluster')
BUILD = os.path.dirname(os.path.abspath(paitest.PAI_BIN))
CLUSTER_DIR = os.path.join(BUILD, 'slurm-cluster')
TMP_ROOT = os.path.join(BUILD, 'slurm-tests')
MANY = int(os.environ.get('PAI_SLURM_MANY', '1000'))


def cluster(cmd):
    return subprocess.run(['bash', CLUSTER, cmd, CLUSTER_DIR], capture_output=True,
                          text=True, timeout=120)


def setUpModule():
    if not shutil.which('sbatch') and not os.path.exists('/usr/bin/sbatch'):
        paitest.skip_file('SLURM is not installed (apt-get install slurm-wlm munge)')
    r = cluster('start')
    if r.returncode == 77:
        paitest.skip_file('SLURM cannot run here: ' + r.stderr.strip())
    if r.returncode != 0:
        raise paitest.HarnessError('the SLURM cluster did not start:\n%s%s'
                                   % (r.stdout, r.stderr))
    os.environ['SLURM_CONF'] = os.path.join(CLUSTER_DIR, 'slurm.conf')
    os.makedirs(TMP_ROOT, exist_ok=True)


def tearDownModule():
    cluster('stop')


def squeue(*args):
    return run(['squeue', '-h', '-t', 'all'] + list(args), timeout=60).stdout


class SlurmCase(PaiTestCase):
    workers = 8
    extra_opts = ()

    def setUp(self):
        # Under the build directory: /tmp may be a tmpfs (refused).
        tempfile.tempdir = TMP_ROOT
        self.addCleanup(setattr, tempfile, 'tempdir', None)
        wt = os.path.join(TMP_ROOT, 'wt-%d-%s' % (os.getpid(),
                                                  self.id().rsplit('.', 1)[-1]))
        # runs last, after the unmount
        self.addCleanup(shutil.rmtree, wt, True)
        # sandbox=none: these tests follow the engine's host pids and
        # write markers outside the worktree; a job's run in bubblewrap
        # is the local backend's (test_sandbox), the wrapper the same
        self.mount_opts = ('backend=slurm', 'engine=sh', 'killgrace=1000',
                           'sandbox=none', 'worktrees=' + wt) + self.extra_opts
        super().setUp()
        self.addCleanup(self.cancel_our_jobs)

    def cancel_our_jobs(self):
        for line in squeue('-o', '%i|%j').splitlines():
            job, name = line.split('|', 1)
            if name.startswith('pai-repo-'):
                run(['scancel', job], timeout=60)

    def job_of(self, tid):
        """The task's job id, from its status once it was submitted."""
        def has():
            return self.m.kv('tasks/%d/status' % tid).get('slurm_job')
        return wait_for(has, 60, msg='task %d submitted' % tid)

    def submitted(self, tid=None):
        return [e for e in self.m.events_of('submitted', tid)]


class TestSlurmRuns(SlurmCase):

    def test_sh_tasks_run_as_jobs_and_commit(self):
        ids = [self.m.submit('echo from-job-%d > out.txt; echo node $SLURM_JOB_ID' % i)
               for i in range(3)]
        job = self.job_of(ids[0])
        for tid in ids:
            self.assertDone(tid)
        for i, tid in enumerate(ids):
            show = git(self.m.repo, 'show', 'pai/task-%d:out.txt' % tid)
            self.assertEqual(show.strip(), 'from-job-%d' % i)
            log = self.m.read('tasks/%d/log' % tid)
            self.assertRegex(log, r'node \d+')
            subs = self.submitted(tid)
            self.assertEqual(len(subs), 1, subs)
            self.assertEqual(subs[0]['backend'], 'slurm')
        # SLURM knew it by its name, and ran it.
        names = dict(l.split('|', 1) for l in squeue('-o', '%i|%j').splitlines())
        self.assertEqual(names.get(job), 'pai-repo-%d' % ids[0])
        status = self.m.kv('status')
        self.assertEqual(status['backend'], 'slurm')
        self.assertNotIn('breaker_slurm', status)
        self.assertEqual(self.m.kv('tasks/%d/status' % ids[0])['backend'], 'slurm')

    def test_running_task_shows_its_job(self):
        go = os.path.join(self.tmp, 'go')
        tid = self.m.submit('while [ ! -e %s ]; do sleep 0.1; done' % go)
        job = self.job_of(tid)

        def running():
            kv = self.m.kv('tasks/%d/status' % tid)
            return kv if kv.get('slurm_state') == 'RUNNING' else None
        kv = wait_for(running, 60, msg='job running')
        self.assertEqual(kv['node'], 'localhost')
        info = json.loads(self.m.read('tasks/%d/task.json' % tid))
        self.assertEqual((info['backend'], info['slurm_job'], info['slurm_state']),
                         ('slurm', job, 'RUNNING'))
        open(go, 'w').close()
        self.assertDone(tid)

    def test_tail_f_follows_the_jobs_log(self):
        go = os.path.join(self.tmp, 'go')
        tid = self.m.submit('echo first-line; while [ ! -e %s ]; do sleep 0.1; done;'
                            ' echo second-line' % go)
        tail = subprocess.Popen(['tail', '-f', self.m.path('tasks/%d/log' % tid)],
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(tail.stdout.close)
        self.addCleanup(tail.wait)
        self.addCleanup(tail.kill)
        lines = []
        reader = threading.Thread(target=lambda: [lines.append(l) for l in tail.stdout])
        reader.daemon = True
        reader.start()
        wait_for(lambda: any('first-line' in l for l in lines), 60, msg='first line')
        self.assertEqual(self.m.state(tid), 'running')
        open(go, 'w').close()
        wait_for(lambda: any('second-line' in l for l in lines), 60, msg='second line')
        self.assertDone(tid)

    def test_cancel_ends_a_job_that_ignores_sigterm_and_its_setsid_child(self):
        pids = os.path.join(self.tmp, 'pids')
        os.makedirs(pids)
        tid = self.m.submit(
            "trap '' TERM; echo $$ > %s/engine;"
            " setsid sh -c 'trap \"\" TERM; echo $$ > %s/child; exec sleep 1000' &"
            " while :; do sleep 0.2; done" % (pids, pids))
        wait_for(lambda: os.path.exists(pids + '/child') and
                 os.path.getsize(pids + '/child') > 0, 60, msg='child started')
        with open(pids + '/engine') as f:
            engine = int(f.read())
        with open(pids + '/child') as f:
            child = int(f.read())
        self.assertTrue(pid_alive(engine) and pid_alive(child))
        self.m.ctl('tasks/%d/ctl' % tid, 'cancel')
        self.assertEqual(self.m.wait_final(tid, 120), 'cancelled')
        wait_for(lambda: not pid_alive(engine) and not pid_alive(child), 60,
                 msg='engine and setsid child gone')
        job = self.submitted(tid)[0]['job']
        wait_for(lambda: job not in [l.split('|')[0] for l in squeue(
            '-t', 'PENDING,RUNNING,COMPLETING', '-o', '%i|%T').splitlines()], 60,
            msg='job %s over' % job)

    def test_job_that_ends_without_an_exit_status_fails_the_task(self):
        # the engine kills its wrapper (parallelai job): no exit file
        tid = self.m.submit(json.dumps({'prompt': 'kill -9 $PPID; sleep 100',
                                        'retries': 0}))
        self.assertEqual(self.m.wait_final(tid, 120), 'failed')
        reason = self.m.kv('tasks/%d/status' % tid).get('reason', '')
        job = self.submitted(tid)[0]['job']
        self.assertRegex(reason, r'^slurm job %s ended without an exit status \([A-Z_]+\)$'
                         % job)

    def test_timeout_ends_the_job(self):
        tid = self.m.submit(json.dumps({'prompt': 'echo started; sleep 1000',
                                        'timeout': 2, 'retries': 0}))
        self.assertEqual(self.m.wait_final(tid, 120), 'failed')
        kv = self.m.kv('tasks/%d/status' % tid)
        self.assertIn('timeout', kv.get('reason', ''))


class TestSlurmSandbox(SlurmCase):
    """A job's run is confined as a local one is: bubblewrap in the job,
    only the worktree writable."""

    extra_opts = ('sandbox=bwrap',)

    def test_a_job_in_the_sandbox_writes_only_its_worktree(self):
        victim = os.path.join(self.m.repo, 'victim.txt')
        tid = self.m.submit('echo inside > in.txt; echo pwned > %s; '
                            'echo "exit $?"' % victim)
        self.assertDone(tid)
        self.assertFalse(os.path.exists(victim))
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:in.txt' % tid).strip(),
                         'inside')
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn('Read-only file system', log)
        self.assertIn('exit 2', log)
        st = self.m.kv('tasks/%d/status' % tid)
        self.assertEqual((st['backend'], st['sandbox']), ('slurm', 'bwrap'))


class TestSlurmLogs(SlurmCase):
    """A job's output reaches the log as a local run's does: the secrets
    the daemon knows redacted, the log's growth capped by logMax."""

    autostart = False
    SECRET = 'pai-slurm-secret-0123456789'

    def test_secrets_redacted_and_log_capped_in_a_job(self):
        git(self.m.repo, 'config', 'engine.sh.passEnv', 'PAI_TEST_JOB_TOKEN')
        git(self.m.repo, 'config', 'parallelai.logMax', '4096')
        self.m.start(env=dict(os.environ, PAI_TEST_JOB_TOKEN=self.SECRET))
        tid = self.m.submit('echo "token: $PAI_TEST_JOB_TOKEN"; seq 1 100000')
        self.assertDone(tid)
        log = self.m.read('tasks/%d/log' % tid)
        head = log[:300]
        self.assertTrue('token: [redacted]' in log, head)
        self.assertFalse(self.SECRET in log, head)
        self.assertTrue('log cap reached' in log, head)
        self.assertLess(len(log), 4096 + 200, head)


class TestSlurmMany(SlurmCase):
    # 32 jobs at once: the cluster's 8 CPUs, 4 jobs each (OverSubscribe)
    workers = 32

    def test_many_true_tasks_each_done_exactly_once(self):
        t0 = time.monotonic()
        for i in range(MANY):
            self.m.write_new('true #%d' % i)
        ids = self.m.task_ids()
        self.assertEqual(len(ids), MANY)
        # A controller that went away is started again (said on stderr):
        # the runs must still end once each, which is what this counts.
        deadline = time.monotonic() + 1000
        while int(self.m.kv('status').get('done', 0)) < MANY:
            if cluster('ping').returncode != 0:
                print('\nthe controller was down: started again',
                      file=sys.stderr)
                cluster('start-ctld')
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        for tid in ids:
            self.assertEqual(self.m.wait_final(tid, 60), 'done', tid)
        fin = {}
        for e in self.m.events_of('finished'):
            fin[e['task']] = fin.get(e['task'], 0) + 1
        self.assertEqual(set(fin.values()), {1})
        self.assertEqual(len(fin), MANY)
        jobs = [e['job'] for e in self.m.events_of('submitted')]
        self.assertEqual(len(jobs), MANY)
        self.assertEqual(len(set(jobs)), MANY)
        # a figure, not an assertion
        print('\n%d tasks through SLURM on %d workers: %.0f s' % (
            MANY, self.workers, time.monotonic() - t0), file=sys.stderr)


class TestSlurmFaults(SlurmCase):

    def test_kill9_with_jobs_running_then_remount_runs_each_once(self):
        go = os.path.join(self.tmp, 'go')
        ran = os.path.join(self.tmp, 'ran')
        os.makedirs(ran)
        ids = [self.m.submit('while [ ! -e %s ]; do sleep 0.1; done;'
                             ' echo once >> %s/$PAI_TASK_ID; echo x > f' % (go, ran))
               for _ in range(8)]
        for tid in ids:
            wait_for(lambda: self.m.kv('tasks/%d/status' % tid).get('slurm_state')
                     == 'RUNNING', 60, msg='task %d running' % tid)
        self.m.kill9()
        self.m.remount()
        open(go, 'w').close()
        for tid in ids:
            self.assertDone(tid, 120)
            with open('%s/%d' % (ran, tid)) as f:
                self.assertEqual(f.read(), 'once\n')
        # One job a run: none submitted again, each adopted.
        self.assertEqual(len(self.submitted()), 8)
        self.assertEqual(sorted(e['task'] for e in self.m.events_of('adopted')), ids)

    def test_unmount_leaves_jobs_running_and_the_next_mount_adopts_them(self):
        go = os.path.join(self.tmp, 'go')
        ran = os.path.join(self.tmp, 'ran')
        os.makedirs(ran)
        ids = [self.m.submit('while [ ! -e %s ]; do sleep 0.1; done;'
                             ' echo once >> %s/$PAI_TASK_ID' % (go, ran))
               for _ in range(3)]
        jobs = [self.job_of(tid) for tid in ids]
        self.m.unmount()
        live = [l.split('|')[0] for l in squeue('-t', 'PENDING,RUNNING', '-o', '%i|%T')
                .splitlines()]
        for job in jobs:
            self.assertIn(job, live)
        self.m.remount()
        for tid in ids:
            self.assertEqual(self.m.state(tid), 'running')
        open(go, 'w').close()
        for tid in ids:
            self.assertDone(tid, 120)
            with open('%s/%d' % (ran, tid)) as f:
                self.assertEqual(f.read(), 'once\n')
        self.assertEqual(len(self.submitted()), 3)
        self.assertEqual(len(self.m.events_of('detached')), 3)

    def test_controller_stopped_and_started_mid_run(self):
        go = os.path.join(self.tmp, 'go')
        tid = self.m.submit('while [ ! -e %s ]; do sleep 0.1; done; echo a > a' % go)
        wait_for(lambda: self.m.kv('tasks/%d/status' % tid).get('slurm_state')
                 == 'RUNNING', 60, msg='running')
        self.addCleanup(cluster, 'start-ctld')
        self.assertEqual(cluster('stop-ctld').returncode, 0)
        status = wait_for(lambda: 'breaker_slurm' in self.m.kv('status') and
                          self.m.kv('status'), 60, msg='breaker_slurm')
        self.assertIn('unreachable', status['breaker_slurm'])
        # A task made meanwhile waits, queued; the scheduler still answers.
        later = self.m.submit('echo later > later')
        # The running job ends by itself: its exit file says so.
        open(go, 'w').close()
        self.assertDone(tid, 120)
        self.assertEqual(self.m.state(later), 'queued')
        self.assertEqual(cluster('start-ctld').returncode, 0)
        self.assertDone(later, 120)
        wait_for(lambda: 'breaker_slurm' not in self.m.kv('status'), 60,
                 msg='breaker closed')


class TestSlurmRefusals(SlurmCase):
    extra_opts = ('slurm.partition=nosuchpartition',)

    def test_sbatch_refusal_fails_the_task_with_its_message(self):
        tid = self.m.submit(json.dumps({'prompt': 'true', 'retries': 0}))
        self.assertEqual(self.m.wait_final(tid, 60), 'failed')
        reason = self.m.kv('tasks/%d/status' % tid).get('reason', '')
        self.assertIn('sbatch', reason)
        self.assertIn('invalid partition', reason.lower())
        self.assertEqual(self.submitted(tid), [])


class TestSlurmAgent(SlurmCase):
    """The built-in agent (the anthropic preset) in a job, against the
    loopback LLM server: its key reaches the job through sbatch's
    exported environment."""
    workers = 2
    KEY_ENV = 'PAI_TEST_AGENT_KEY'

    def prepare_repo(self, repo):
        from llm_server import LLMServer  # noqa: E402
        self.srv = LLMServer({'turns': [
            {'text': "I'll write hello.txt now.",
             'tool_calls': [{'name': 'write_file',
                             'input': {'path': 'hello.txt',
                                       'content': 'hi from the agent\n'}}]},
            {'text': 'Done: hello.txt holds a greeting.'}]}).start()
        self.addCleanup(self.srv.stop)
        os.environ[self.KEY_ENV] = 'sk-pai-test-slurm-never-written'
        self.addCleanup(os.environ.pop, self.KEY_ENV, None)
        git(repo, 'config', 'engine.anthropic.baseUrl', self.srv.url)
        git(repo, 'config', 'engine.anthropic.apiKeyEnv', self.KEY_ENV)

    def test_builtin_agent_runs_as_a_job_and_commits(self):
        tid = self.m.submit(json.dumps({'prompt': 'write hello.txt',
                                        'engine': 'anthropic'}))
        self.assertDone(tid, 120)
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:hello.txt' % tid),
                         'hi from the agent\n')
        self.assertIn('Done: hello.txt holds a greeting.',
                      self.m.read('tasks/%d/log' % tid))
        self.assertEqual(len(self.submitted(tid)), 1)
        self.assertEqual(len(self.srv.requests), 2)


class TestSlurmMountChecks(unittest.TestCase):

    def test_state_on_tmpfs_is_refused(self):
        if not os.path.isdir('/dev/shm'):
            self.skipTest('no /dev/shm')
        tmp = tempfile.mkdtemp(dir=TMP_ROOT)
        self.addCleanup(shutil.rmtree, tmp, True)
        shm = tempfile.mkdtemp(dir='/dev/shm')
        self.addCleanup(shutil.rmtree, shm, True)
        paitest.make_repo(os.path.join(tmp, 'repo'))
        os.makedirs(os.path.join(tmp, 'mnt'))
        r = run([paitest.PAI_BIN, '-f', '-o', 'backend=slurm,state=%s' % shm,
                 os.path.join(tmp, 'repo'), os.path.join(tmp, 'mnt')], timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('is on tmpfs', r.stderr)
        self.assertIn('state=DIR', r.stderr)


if __name__ == '__main__':
    paitest.main()
