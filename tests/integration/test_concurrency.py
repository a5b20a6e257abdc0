#!/usr/bin/python3
"""Many writers at once: every prompt becomes exactly one task."""

import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase  # noqa: E402

WRITER = r'''
import sys
new, proc, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    text = "echo p%d-%d\n" % (proc, i) + "# " + "x" * ((proc * 37 + i * 101) % 3000) + "\n"
    with open(new, "w") as f:
        f.write(text)
'''


def prompt_of(proc, i):
    return 'echo p%d-%d\n' % (proc, i) + '# ' + 'x' * ((proc * 37 + i * 101) % 3000) + '\n'


class TestConcurrentWriters(PaiTestCase):
    workers = 4

    def write_concurrently(self, procs, per):
        children = [subprocess.Popen([sys.executable, '-c', WRITER, self.m.path('tasks/new'),
                                      str(p), str(per)], stderr=subprocess.PIPE)
                    for p in range(procs)]
        for c in children:
            _, err = c.communicate(timeout=240)
            self.assertEqual(c.returncode, 0, err.decode())

    def test_200_prompts_from_8_processes_make_200_tasks(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        self.write_concurrently(8, 25)
        ids = self.m.task_ids()
        self.assertEqual(len(ids), 200)
        self.assertEqual(len(set(ids)), 200)
        got = sorted(self.m.read('tasks/%d/prompt' % t) for t in ids)
        want = sorted(prompt_of(p, i) for p in range(8) for i in range(25))
        self.assertEqual(got, want)
        self.assertEqual(self.m.kv('status').get('queued'), '200')
        r = paitest.run(['ls', '-l', self.m.path('tasks')])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 202)   # "total", new, 200 tasks
        self.assertEqual(len(self.m.events_of('created')), 200)

    def test_concurrent_prompts_all_run_to_done(self):
        self.write_concurrently(8, 5)
        ids = self.m.task_ids()
        self.assertEqual(len(ids), 40)
        for t in ids:
            self.assertDone(t, 120)
        for t in ids:
            word = self.m.read('tasks/%d/prompt' % t).split()[1]
            self.assertIn(word, self.m.read('tasks/%d/log' % t).splitlines())
        self.assertEqual(self.m.kv('status').get('done'), '40')


    def test_parallel_tasks_commit_their_own_changes(self):
        ids = [self.m.submit('mkdir -p out; echo c%d > out/c%d.txt; echo more >> notes.txt\n' % (i, i))
               for i in range(12)]
        for t in ids:
            self.assertDone(t, 120)
        for i, t in enumerate(ids):
            self.assertEqual(paitest.git(self.m.repo, 'show', 'pai/task-%d:out/c%d.txt' % (t, i)),
                             'c%d\n' % i)
            self.assertEqual(sorted(self.m.read('tasks/%d/files' % t).splitlines()),
                             ['A\tout/c%d.txt' % i, 'M\tnotes.txt'])


if __name__ == '__main__':
    paitest.main()
