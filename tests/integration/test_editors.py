#!/usr/bin/python3
"""Editors write prompts into tasks/new: vim (ex mode and on a terminal), nano."""

import fcntl
import os
import pty
import select
import shutil
import struct
import sys
import termios
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, run  # noqa: E402


class Terminal:
    """A program on a pseudo-terminal, driven by keystrokes."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0))
        self.out = b''
        self.status = None

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    d = os.read(self.fd, 65536)
                except OSError:
                    return
                if not d:
                    return
                self.out += d

    def expect(self, *needles, timeout=15.0):
        """Read until one of needles appears after the current position."""
        start = len(self.out)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for n in needles:
                if n in self.out[start:]:
                    return n
            self.pump(0.1)
        raise AssertionError('terminal never showed %r; screen tail: %r' % (needles, self.out[-800:]))

    def send(self, data):
        os.write(self.fd, data)

    def wait(self, timeout=20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                return self.status
            self.pump(0.1)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError('editor did not exit; screen tail: %r' % self.out[-800:])

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        os.close(self.fd)


class TestEditors(PaiTestCase):

    def editor_env(self):
        home = os.path.join(self.tmp, 'home')
        os.makedirs(home, exist_ok=True)
        return dict(os.environ, HOME=home, TERM='xterm', LANG='C.UTF-8')

    def assertOneTask(self, word):
        ids = self.m.task_ids()
        self.assertEqual(len(ids), 1, 'tasks made: %s' % ids)
        tid = ids[0]
        self.assertEqual(self.m.read('tasks/%d/prompt' % tid), 'echo %s\n' % word)
        self.assertDone(tid)
        self.assertIn(word, self.m.read('tasks/%d/log' % tid))
        self.assertEqual(sorted(os.listdir(self.m.path('tasks'))), sorted(['new', str(tid)]))

    def test_vim_ex_mode_writes_prompt(self):
        if not shutil.which('vim'):
            self.skipTest('vim is not installed')
        r = run(['vim', '-u', 'NONE', '-N', '-n', '-es',
                 '-c', 'call setline(1, "echo from-vim")', '-c', 'wq', self.m.path('tasks/new')],
                timeout=60, env=self.editor_env(), stdin=open(os.devnull))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertOneTask('from-vim')

    def test_vim_on_a_terminal_writes_prompt(self):
        if not shutil.which('vim'):
            self.skipTest('vim is not installed')
        t = Terminal(['vim', '-u', 'DEFAULTS', '-i', 'NONE', self.m.path('tasks/new')], self.editor_env())
        self.addCleanup(t.close)
        t.pump(1.5)
        for _ in range(3):            # swap-file warnings want an ENTER
            if b'ENTER' in t.out[-300:]:
                t.send(b'\r')
                t.pump(0.5)
        t.send(b'ggdGiecho from-vim-tty\x1b')
        t.pump(0.5)
        t.send(b':wq\r')
        t.pump(1.0)
        if b'ENTER' in t.out[-300:]:
            t.send(b'\r')
        self.assertEqual(t.wait(), 0, t.out[-800:])
        self.assertOneTask('from-vim-tty')

    def test_nano_writes_prompt(self):
        if not shutil.which('nano'):
            self.skipTest('nano is not installed')
        t = Terminal(['nano', '--ignorercfiles', self.m.path('tasks/new')], self.editor_env())
        self.addCleanup(t.close)
        t.expect(b'Exit')                 # the help lines are up
        t.send(b'echo from-nano')
        t.pump(0.3)
        t.send(b'\x0f')                   # ^O: write out
        t.expect(b'File Name to Write')
        t.send(b'\r')
        got = t.expect(b'Wrote', b'Error', b'anyway', b'continue', timeout=20)
        if got in (b'anyway', b'continue'):
            t.send(b'y')
            got = t.expect(b'Wrote', b'Error', timeout=20)
        self.assertEqual(got, b'Wrote', t.out[-800:])
        t.send(b'\x18')                   # ^X: exit
        self.assertEqual(t.wait(), 0, t.out[-800:])
        self.assertOneTask('from-nano')


if __name__ == '__main__':
    paitest.main()
