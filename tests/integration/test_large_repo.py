#!/usr/bin/python3
"""A task on a repository of 20,000 files."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git  # noqa: E402

FILES = 20000


class TestLargeRepository(PaiTestCase):

    def prepare_repo(self, repo):
        for d in range(100):
            sub = os.path.join(repo, 'pkg', 'd%03d' % d)
            os.makedirs(sub)
            for i in range(FILES // 100):
                with open(os.path.join(sub, 'f%03d.txt' % i), 'w') as f:
                    f.write('file %d/%d\n' % (d, i))
        git(repo, 'add', '-A')
        git(repo, 'commit', '-q', '-m', '20000 files')

    def test_task_on_20000_file_repository(self):
        tid = self.m.submit('echo changed >> pkg/d042/f017.txt; rm pkg/d001/f000.txt; echo n > n.txt; '
                            'find pkg -type f | wc -l\n')
        self.assertDone(tid, 240)
        self.assertIn(str(FILES - 1), self.m.read('tasks/%d/log' % tid))
        self.assertEqual(sorted(self.m.read('tasks/%d/files' % tid).splitlines()),
                         ['A\tn.txt', 'D\tpkg/d001/f000.txt', 'M\tpkg/d042/f017.txt'])
        diff = self.m.read('tasks/%d/diff' % tid)
        self.assertIn('+changed', diff)
        self.assertEqual(git(self.m.repo, 'status', '--porcelain'), '')


if __name__ == '__main__':
    paitest.main()
