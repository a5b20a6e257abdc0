#!/usr/bin/python3
"""One mount session of the daemon under valgrind: tasks submitted, run,
read, cancelled, the mount unmounted; no invalid access, no leak."""

import os
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase  # noqa: E402

# valgrind runs the daemon some twenty times slower
paitest.MOUNT_DEADLINE = 180.0


class TestValgrindSession(PaiTestCase):

    autostart = False

    def setUp(self):
        super().setUp()
        if not shutil.which('valgrind'):
            self.skipTest('valgrind is not installed')

    def test_a_session_is_free_of_errors_and_leaks(self):
        log = os.path.join(self.tmp, 'valgrind.log')
        # engines are exec'd: valgrind stays with the daemon; their
        # keepers are forks of it that never exec, and are let be
        self.m.start(['valgrind', '--leak-check=full',
                      '--errors-for-leak-kinds=definite,indirect',
                      '--error-exitcode=99', '--log-file=' + log,
                      '--trace-children=no', '--child-silent-after-fork=yes']
                     + self.m.argv())
        done = [self.m.submit('echo %d > f%d.txt\n' % (i, i)) for i in range(3)]
        failed = self.m.submit('exit 3\n')
        for t in done:
            self.assertDone(t, 180)
        self.m.wait_state(failed, 'failed', 180)
        sleeper = self.m.submit('sleep 60\n')
        self.m.wait_state(sleeper, 'running', 180)
        for t in done:
            for name in ('status', 'diff', 'files', 'log', 'task.json',
                         'timeline.svg'):
                self.m.read('tasks/%d/%s' % (t, name))
        for name in ('status', 'status.json', 'metrics', 'conflicts',
                     'merge-order', 'events', 'README', 'index.html',
                     'timeline.svg'):
            self.m.read(name)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % sleeper, 'cancel\n'), 0)
        self.m.wait_state(sleeper, 'cancelled', 180)
        self.assertEqual(self.m.ctl('ctl', 'merge %d\n' % done[0]), 0)
        self.m.unmount(timeout=180)
        with open(log) as f:
            report = f.read()
        self.assertEqual(self.m.proc.returncode, 0, report[-4000:])
        self.assertIn('ERROR SUMMARY: 0 errors', report)
        self.assertTrue('LEAK SUMMARY' in report or 'All heap blocks were freed' in report, report[-2000:])
        if os.environ.get('PAI_SHOW_VALGRIND'):
            print(report[-1500:], file=sys.stderr)


if __name__ == '__main__':
    paitest.main()
