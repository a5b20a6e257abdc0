"""Harness for the parallelai integration tests.

Every test drives a real mount of the real daemon the way a person would:
a temporary git repository, a temporary empty mountpoint, `parallelai -f`
in the foreground with its stderr in a file, plain file operations and
plain tools on the mount, and a cleanup that always unmounts lazily and
kills the daemon.  After each test the daemon's stderr must be free of
errors and sanitizer reports (the same discipline as libfuse's test/util.py).

Python 3 standard library only.  Run a file directly:

    PAI_BIN=build/parallelai python3 tests/integration/test_basic.py

Exit status 77 (skip) when /dev/fuse or fusermount3 is missing, or when
any test skipped and none failed; each skip's reason is printed on stdout
as "SKIP: TEST: REASON".
"""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True

PAI_BIN = os.environ.get('PAI_BIN', '/work/main/build/parallelai')

# Worktrees go to $XDG_DATA_HOME/parallelai/worktrees by default: keep the
# tests' own out of the real home directory, and remove them at the end.
XDG_DATA_HOME = tempfile.mkdtemp(prefix='pai-xdg-')
os.environ['XDG_DATA_HOME'] = XDG_DATA_HOME
import atexit  # noqa: E402
atexit.register(shutil.rmtree, XDG_DATA_HOME, True)
BAD_PATTERNS = ('ERROR', 'AddressSanitizer', 'runtime error', 'LeakSanitizer')
SKIP = 77
MOUNT_DEADLINE = 20.0
STATES_FINAL = ('done', 'failed', 'cancelled')


class HarnessError(AssertionError):
    """A failure of the daemon noticed by the harness."""


def run(argv, timeout=60, check=False, **kw):
    """Run a command, capture its output as text."""
    kw.setdefault('stdout', subprocess.PIPE)
    kw.setdefault('stderr', subprocess.PIPE)
    return subprocess.run(argv, timeout=timeout, check=check, text=True, **kw)


def sh(cmd, timeout=60, **kw):
    """Run a shell command line, the way a user types it."""
    return run(['/bin/sh', '-c', cmd], timeout=timeout, **kw)


def git(repo, *args, check=True):
    r = run(['git', '-C', repo] + list(args))
    if check and r.returncode != 0:
        raise HarnessError('git %s failed: %s' % (' '.join(args), r.stderr))
    return r.stdout


def make_repo(path, commit=True):
    """A small git repository with one commit and a local identity."""
    os.makedirs(os.path.join(path, 'src'), exist_ok=True)
    git(path, 'init', '-q', '-b', 'main')
    git(path, 'config', 'user.name', 'PAI Test')
    git(path, 'config', 'user.email', 'pai-test@example.invalid')
    # The default engine would be claude wherever it is installed: these
    # tests run shell tasks unless they say otherwise.
    git(path, 'config', 'parallelai.engine', 'sh')
    files = {
        'README.md': '# demo\n\nA repository for parallelai tests.\n',
        'notes.txt': 'one\ntwo\nthree\n',
        'src/hello.c': '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n',
        'src/old.txt': 'this file will be removed by a task\n',
    }
    for rel, text in files.items():
        with open(os.path.join(path, rel), 'w') as f:
            f.write(text)
    if commit:
        git(path, 'add', '-A')
        git(path, 'commit', '-q', '-m', 'initial')
    return path


def unmount_lazy(mnt):
    run(['fusermount3', '-u', '-z', mnt], timeout=30)


# PAI_CHECKOUT=overlay (or full) runs a test file with every mount's task
# worktrees of that kind; without it a mount takes the default, auto
# (full checkouts for the tests' small repositories). tests/run runs the
# worktree, merge, conflict and fault tests a second time with overlays;
# the whole suite passes with PAI_CHECKOUT=overlay.
CHECKOUT = os.environ.get('PAI_CHECKOUT', '')


def _unescape(field):
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), field)


def overlay_mounts(*roots):
    """(mount point, upperdir) of each overlay mounted whose upper
    directory or mount point lies under one of roots."""
    out = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            left, _, right = line.partition(' - ')
            fields, rfields = left.split(), right.split()
            if len(fields) < 5 or len(rfields) < 3 or rfields[0] != 'overlay':
                continue
            point = _unescape(fields[4])
            upper = ''
            for opt in rfields[2].split(','):
                if opt.startswith('upperdir='):
                    upper = _unescape(opt[len('upperdir='):])
            if any(x.startswith(r.rstrip('/') + '/')
                   for r in roots for x in (point, upper)):
                out.append((point, upper))
    return out


def unmount_worktree(path, repo=None):
    """What a user must do first to remove an overlay worktree
    (checkout=overlay) by hand: umount it (lazily when an engine still
    runs in it) and, given repo, git worktree unlock it. Nothing for a
    full checkout."""
    was = False
    while os.path.ismount(path):
        was = True
        if run(['umount', path], timeout=30).returncode != 0:
            run(['umount', '-l', path], check=True, timeout=30)
    if was and repo:
        git(repo, 'worktree', 'unlock', path)


def remove_worktree(path, repo=None):
    """A task's worktree removed by hand: rm -rf (unmount_worktree
    first)."""
    unmount_worktree(path, repo)
    shutil.rmtree(path)


def unmount_overlays(*roots):
    """What a test left mounted (a killed daemon's overlays) goes before
    its directories are removed: rm -rf would go through them."""
    for _ in range(8):
        left = overlay_mounts(*roots)
        if not left:
            return
        for point, _upper in left:
            run(['umount', '-l', point], timeout=30)


def pids_under(root):
    """Processes whose cwd lies under root (engines left by a killed daemon)."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            cwd = os.readlink('/proc/%s/cwd' % d)
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + '/'):
            out.append(int(d))
    return out


def daemon_pids(mnt):
    """Daemons (not our children) whose command line names mnt."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if not argv or b'parallelai' not in os.path.basename(argv[0]):
            continue
        if any(a.rstrip(b'/') == mnt.encode() for a in argv[1:]):
            out.append(int(d))
    return out


def pid_alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            st = f.read()
    except OSError:
        return False
    # a zombie has exited
    return st.rsplit(')', 1)[1].split()[0] != 'Z'


def kill_pids(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def wait_for(pred, timeout=30.0, interval=0.05, msg='condition'):
    """Poll pred() until it returns a true value; fail after the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except OSError as e:
            last = None
            err = e
        else:
            err = None
        if last:
            return last
        if time.monotonic() > deadline:
            raise HarnessError('timed out after %.0f s waiting for %s%s'
                               % (timeout, msg, ' (%s)' % err if err else ''))
        time.sleep(interval)


def parse_kv(text):
    """key: value lines into a dict (the first line may be a bare word)."""
    d = {}
    for line in text.splitlines():
        if ':' in line:
            k, v = line.split(':', 1)
            d[k.strip()] = v.strip()
    return d


# What each schema version of the store added, undone in reverse order
# by downgrade_db: the migration tests make an older database from a new
# one. A new migration adds its line here and in tests/unit/schema.h.
SCHEMA_UNDO = {
    6: ['DROP TABLE plan_tasks'],
    7: ['DROP TRIGGER runs_start', 'DROP TRIGGER runs_end', 'DROP TABLE runs'],
    8: ['ALTER TABLE tasks DROP COLUMN %s' % c
        for c in ('check_cmd', 'fix_rounds', 'check_state', 'check_exit', 'check_round')],
    9: ['DROP TABLE merge_queue'],
    10: ['DROP TABLE outbox'],
    11: ['DROP TABLE spend'],
    12: ['ALTER TABLE tasks DROP COLUMN paths', 'ALTER TABLE tasks DROP COLUMN outside',
         'ALTER TABLE tasks DROP COLUMN locks'],
    13: ['ALTER TABLE tasks DROP COLUMN job', 'ALTER TABLE tasks DROP COLUMN job_attempt'],
    14: ['DROP TABLE approvals', 'DROP TABLE audit'],
}


def downgrade_db(db, version):
    """Make the state database db (sqlite3 connection, in a transaction
    of the caller's) look like schema version `version`."""
    for v in sorted(SCHEMA_UNDO, reverse=True):
        if v > version:
            for stmt in SCHEMA_UNDO[v]:
                db.execute(stmt)
    db.execute('PRAGMA user_version = %d' % version)


class Mount:
    """One repository, one mountpoint, one daemon (restartable)."""

    def __init__(self, tmp, workers=2, opts=(), repo=None):
        self.tmp = tmp
        self.repo = repo or os.path.join(tmp, 'repo')
        if not os.path.isdir(os.path.join(self.repo, '.git')):
            make_repo(self.repo)
        self.mnt = os.path.join(tmp, 'mnt')
        os.makedirs(self.mnt, exist_ok=True)
        self.opts = []
        if workers:
            self.opts.append('workers=%d' % workers)
        self.opts += list(opts)
        if CHECKOUT and not any(o.startswith('checkout=') for o in self.opts):
            self.opts.append('checkout=' + CHECKOUT)
        self.proc = None
        self.stderr_paths = []
        self.signalled = False   # we killed the daemon on purpose

    # ---- daemon life -------------------------------------------------
    def argv(self):
        argv = [PAI_BIN, '-f']
        if self.opts:
            argv += ['-o', ','.join(self.opts)]
        return argv + [self.repo, self.mnt]

    def start(self, argv=None, cwd=None, env=None):
        """Start `parallelai -f` (or argv) and wait for the mount."""
        path = os.path.join(self.tmp, 'daemon-%d.stderr' % len(self.stderr_paths))
        self.stderr_paths.append(path)
        with open(path, 'wb') as f:
            self.proc = subprocess.Popen(argv or self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=f, stderr=subprocess.STDOUT, cwd=cwd,
                                         env=env)
        self.signalled = False
        deadline = time.monotonic() + MOUNT_DEADLINE
        while not os.path.ismount(self.mnt):
            if self.proc.poll() is not None:
                raise HarnessError('daemon exited with %s before mounting:\n%s'
                                   % (self.proc.returncode, self.stderr_text()))
            if time.monotonic() > deadline:
                raise HarnessError('mount did not appear within %.0f s:\n%s'
                                   % (MOUNT_DEADLINE, self.stderr_text()))
            time.sleep(0.05)

    def unmount(self, timeout=30.0):
        """A clean unmount, as a user does it; the daemon must exit 0."""
        r = run(['fusermount3', '-u', self.mnt], timeout=30)
        if r.returncode != 0:
            raise HarnessError('fusermount3 -u failed: %s' % r.stderr)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError('daemon still running %.0f s after unmount:\n%s'
                               % (timeout, self.stderr_text()))
        if rc != 0:
            raise HarnessError('daemon exited with %d after a clean unmount:\n%s'
                               % (rc, self.stderr_text()))

    def kill9(self):
        """kill -9 the daemon and clear the dead mount."""
        self.signalled = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        unmount_lazy(self.mnt)
        wait_for(lambda: not os.path.ismount(self.mnt), 10, msg='dead mount to go')

    def remount(self):
        self.start()

    def shutdown(self):
        """End of a test: unmount cleanly if the daemon is still ours."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if os.path.ismount(self.mnt):
            self.unmount()

    def cleanup(self):
        if os.path.ismount(self.mnt) or self.proc is not None:
            unmount_lazy(self.mnt)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        kill_pids(daemon_pids(self.mnt))
        kill_pids(pids_under(self.tmp))
        unmount_overlays(self.tmp, self.repo, XDG_DATA_HOME)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stderr_text(self):
        out = []
        for p in self.stderr_paths:
            try:
                with open(p, 'rb') as f:
                    out.append(f.read().decode('utf-8', 'replace'))
            except OSError:
                pass
        return ''.join(out)

    def check_stderr(self):
        text = self.stderr_text()
        for pat in BAD_PATTERNS:
            if pat in text:
                raise HarnessError('daemon stderr contains %r:\n%s' % (pat, text))

    # ---- files ---------------------------------------------------------
    def path(self, rel):
        return os.path.join(self.mnt, rel)

    def read(self, rel):
        with open(self.path(rel), 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def read_bytes(self, rel):
        with open(self.path(rel), 'rb') as f:
            return f.read()

    def kv(self, rel):
        return parse_kv(self.read(rel))

    def write_new(self, text):
        """open tasks/new for writing, write, close: the way `echo >` does."""
        data = text.encode() if isinstance(text, str) else text
        with open(self.path('tasks/new'), 'wb') as f:
            f.write(data)

    def try_new(self, text, rel='tasks/new'):
        """write_new (to rel: plans/new too), returning 0 or the errno of
        the failing call."""
        data = text.encode() if isinstance(text, str) else text
        try:
            fd = os.open(self.path(rel), os.O_WRONLY | os.O_TRUNC)
        except OSError as e:
            return e.errno
        err = 0
        try:
            off = 0
            while off < len(data):
                off += os.write(fd, data[off:off + (1 << 17)])
        except OSError as e:
            err = e.errno
        try:
            os.close(fd)
        except OSError as e:
            err = err or e.errno
        return err

    def task_ids(self):
        return sorted(int(n) for n in os.listdir(self.path('tasks')) if n.isdigit())

    def submit(self, text):
        """Create one task, return its id (found by listing tasks/)."""
        before = set(self.task_ids())
        self.write_new(text)
        new = set(self.task_ids()) - before
        if len(new) != 1:
            raise HarnessError('writing tasks/new made tasks %s, not one' % sorted(new))
        return new.pop()

    def state(self, tid):
        text = self.read('tasks/%d/status' % tid)
        return text.split('\n', 1)[0].strip()

    def status(self, tid):
        return self.kv('tasks/%d/status' % tid)

    def wait_state(self, tid, states, timeout=60.0):
        if isinstance(states, str):
            states = (states,)
        seen = []

        def pred():
            s = self.state(tid)
            if not seen or seen[-1] != s:
                seen.append(s)
            return s if s in states else None
        try:
            return wait_for(pred, timeout, msg='task %d to be %s' % (tid, '|'.join(states)))
        except HarnessError as e:
            try:
                st = self.read('tasks/%d/status' % tid)
                log = self.read('tasks/%d/log' % tid)[-2000:]
            except OSError as oe:
                st, log = str(oe), ''
            raise HarnessError('%s; states seen %s\nstatus:\n%s\nlog tail:\n%s'
                               % (e, seen, st, log)) from None

    def wait_final(self, tid, timeout=60.0):
        return self.wait_state(tid, STATES_FINAL, timeout)

    def pid_of(self, tid, timeout=30.0):
        """The engine's pid of a running task (it may show a moment after
        the state word does, while the worktree is made)."""
        return int(wait_for(lambda: self.status(tid).get('pid'), timeout,
                            msg='task %d to show its pid' % tid))

    def worker_of(self, tid):
        """The worker slot K a running task is on, from its status."""
        w = self.status(tid).get('worker', '')
        m = re.search(r'(\d+)\s*$', w)
        return int(m.group(1)) if m else None

    def ctl(self, rel, cmd):
        """Write one command to a ctl file; 0 or the errno of open/write/close."""
        data = cmd.encode()
        try:
            fd = os.open(self.path(rel), os.O_WRONLY)
        except OSError as e:
            return e.errno
        try:
            os.write(fd, data)
        except OSError as e:
            os.close(fd)
            return e.errno
        try:
            os.close(fd)
        except OSError as e:
            return e.errno
        return 0

    def events(self):
        out = []
        for line in self.read('events').splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def events_of(self, name, tid=None):
        return [e for e in self.events()
                if e.get('event') == name and (tid is None or e.get('task') == tid)]


class PaiTestCase(unittest.TestCase):
    """A fresh repository and a fresh mount per test."""

    workers = 2
    mount_opts = ()
    autostart = True

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='pai-it-')
        self.m = Mount(self.tmp, workers=self.workers, opts=self.mount_opts)
        self.addCleanup(self.m.cleanup)
        # cleanups run last-registered first: whatever a test registers
        # (a tail -f to stop) runs before this unmount and stderr check
        self.addCleanup(self.finish_mount)
        self.prepare_repo(self.m.repo)
        if self.autostart:
            self.m.start()

    def prepare_repo(self, repo):
        """Hook: configure the repository before the mount."""

    def finish_mount(self):
        """Unmount cleanly, then fail on errors in the daemon's stderr."""
        self.m.shutdown()
        self.m.check_stderr()
        # a clean unmount leaves no task's overlay mounted
        if self.m.proc is not None and self.m.proc.returncode == 0:
            left = overlay_mounts(self.tmp, self.m.repo, XDG_DATA_HOME)
            if left:
                raise HarnessError('overlays left mounted after a clean '
                                   'unmount: %s' % left)

    # shorthand
    def assertErrno(self, got, *wanted):
        names = '|'.join(errno.errorcode.get(w, str(w)) for w in wanted)
        gotname = errno.errorcode.get(got, str(got)) if got else 'success'
        self.assertIn(got, wanted, 'expected %s, got %s' % (names, gotname))

    def assertDone(self, tid, timeout=60.0):
        """The task ends done; otherwise show its status and log."""
        state = self.m.wait_final(tid, timeout)
        if state != 'done':
            self.fail('task %d ended %s, not done\nstatus:\n%s\nlog tail:\n%s'
                      % (tid, state, self.m.read('tasks/%d/status' % tid),
                         self.m.read('tasks/%d/log' % tid)[-1500:]))

    def refused_events(self):
        return self.m.events_of('refused')

    def assertRefused(self, text, *words):
        """Writing text to tasks/new fails EINVAL, makes no task, and the
        refusal's reason, in events, names each of words."""
        before = self.m.task_ids()
        n_refused = len(self.refused_events())
        self.assertErrno(self.m.try_new(text), errno.EINVAL)
        self.assertEqual(self.m.task_ids(), before)
        refused = self.refused_events()
        self.assertEqual(len(refused), n_refused + 1, refused)
        reason = refused[-1].get('reason', '')
        for w in words:
            self.assertIn(w, reason)
        return reason


def skip_file(reason):
    """The whole file cannot run here: say why, exit 77 (meson's skip)."""
    print('SKIP: %s: %s' % (os.path.basename(sys.argv[0]), reason), flush=True)
    sys.exit(SKIP)


def main():
    """Run the module's tests. Exit 0 when every test passed, 1 when any
    failed (or none ran), and 77 when none failed but any skipped: unittest
    itself exits 0 on a skip, which meson and tests/run would count as a
    pass. Every skip's reason goes to stdout as a line "SKIP: TEST: REASON",
    which tests/run prints in its summary."""
    if not os.path.exists('/dev/fuse'):
        skip_file('/dev/fuse is missing')
    if not shutil.which('fusermount3'):
        skip_file('fusermount3 is missing')
    if not os.access(PAI_BIN, os.X_OK):
        print('FAIL: %s is not built (set PAI_BIN)' % PAI_BIN)
        sys.exit(1)
    result = unittest.main(verbosity=2, exit=False).result
    sys.stderr.flush()
    module = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    for test, reason in result.skipped:
        print('SKIP: %s: %s' % (test.id().replace('__main__', module, 1), reason))
    sys.stdout.flush()
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun == 0 and not result.skipped:
        print('FAIL: no test ran')
        sys.exit(1)
    sys.exit(SKIP if result.skipped else 0)
