#!/usr/bin/env python3
"""worktree.copy of a directory (a node_modules), by reflink where the file
system shares extents, and worktree_bytes counting shared extents once.

On the machine's own file system (ext4 on CI: no reflinks) the copy falls
back to copy_file_range or read and write and gives the same bytes. The
reflink tests make a small XFS file system with reflink=1 on a loop device
(tests/reflinkfs: root, /dev/loop-control and xfsprogs, which
contrib/install-deps installs), and put the repository, the state
directory and the worktrees on it: each worktree's copy uses the very
extents of the checkout's file (FIEMAP says shared, at the same physical
places), `df` does not grow by the copies, and worktree_bytes counts the
shared bytes once where `du` counts them once per copy.
"""

import fcntl
import os
import struct
import subprocess
import tempfile
import unittest

import paitest
from paitest import PaiTestCase, git, sh

HERE = os.path.dirname(os.path.abspath(__file__))
REFLINKFS = os.path.join(os.path.dirname(HERE), 'reflinkfs')

FS_IOC_FIEMAP = 0xC020660B
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_SHARED = 0x2000
BIG = 8 << 20
SMALL = 300


def extents(path):
    """FIEMAP of path: [(logical, physical, length, flags)]."""
    out, start = [], 0
    with open(path, 'rb') as f:
        while True:
            n = 64
            buf = bytearray(struct.pack('=QQIIII', start, 2 ** 64 - 1 - start, 0, 0, n, 0)
                            + bytes(56 * n))
            fcntl.ioctl(f.fileno(), FS_IOC_FIEMAP, buf)
            mapped = struct.unpack_from('=I', buf, 20)[0]
            if not mapped:
                return out
            for i in range(mapped):
                logical, physical, length = struct.unpack_from('=QQQ', buf, 32 + 56 * i)
                flags = struct.unpack_from('=I', buf, 32 + 56 * i + 40)[0]
                out.append((logical, physical, length, flags))
            if flags & FIEMAP_EXTENT_LAST:
                return out
            start = logical + length


def make_node_modules(repo):
    """An ignored node_modules: a big file, small ones, a link, a script."""
    with open(os.path.join(repo, '.gitignore'), 'w') as f:
        f.write('node_modules/\n')
    git(repo, 'add', '.gitignore')
    git(repo, 'commit', '-q', '-m', 'ignore node_modules')
    nm = os.path.join(repo, 'node_modules')
    os.makedirs(os.path.join(nm, 'pkg', 'lib'))
    os.makedirs(os.path.join(nm, '.bin'))
    with open(os.path.join(nm, 'pkg', 'big.bin'), 'wb') as f:
        f.write(os.urandom(BIG))
    with open(os.path.join(nm, 'pkg', 'package.json'), 'w') as f:
        f.write('{"name": "pkg"}\n')
    with open(os.path.join(nm, 'pkg', 'lib', 'index.js'), 'w') as f:
        f.write('module.exports = 42;\n')
    with open(os.path.join(nm, 'pkg', 'cli.sh'), 'w') as f:
        f.write('#!/bin/sh\necho pkg cli\n')
    os.chmod(os.path.join(nm, 'pkg', 'cli.sh'), 0o755)
    os.symlink('../pkg/cli.sh', os.path.join(nm, '.bin', 'cli'))
    # many small packages: hundreds of shared extents a worktree
    for i in range(SMALL):
        d = os.path.join(nm, 'p%03d' % i)
        os.makedirs(d)
        with open(os.path.join(d, 'index.js'), 'wb') as f:
            f.write(os.urandom(4096 + i))


def allocated(top):
    """The bytes allocated to the regular files under top."""
    total = 0
    for d, _, names in os.walk(top):
        for n in names:
            st = os.lstat(os.path.join(d, n))
            if not os.path.islink(os.path.join(d, n)):
                total += st.st_blocks * 512
    return total


class CopyCase(PaiTestCase):

    git_config = (('worktree.copy', 'node_modules'),)

    def prepare_repo(self, repo):
        for key, value in self.git_config:
            git(repo, 'config', '--add', key, value)
        make_node_modules(repo)

    def done(self, prompt):
        tid = self.m.submit(prompt)
        self.assertDone(tid)
        return tid

    def worktree_of(self, tid):
        return os.readlink(self.m.path('tasks/%d/worktree' % tid))

    def assertSameTree(self, a, b):
        r = sh('diff -r --no-dereference "%s" "%s"' % (a, b))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class TestCopyDirectory(CopyCase):
    """On the machine's own file system, whatever it shares."""

    def test_directory_is_copied_whole_and_not_committed(self):
        tid = self.done('node_modules/.bin/cli && echo work > work.txt\n')
        wt = self.worktree_of(tid)
        self.assertIn('pkg cli\n', self.m.read('tasks/%d/log' % tid))
        self.assertIn("parallelai: worktree.copy: 'node_modules'\n",
                      self.m.read('tasks/%d/log' % tid))
        self.assertSameTree(os.path.join(self.m.repo, 'node_modules'),
                            os.path.join(wt, 'node_modules'))
        self.assertEqual(os.readlink(os.path.join(wt, 'node_modules/.bin/cli')),
                         '../pkg/cli.sh')
        self.assertEqual(self.m.read('tasks/%d/files' % tid), 'A\twork.txt\n')

    def test_a_write_into_the_copy_leaves_the_checkout_alone(self):
        tid = self.done('echo changed > node_modules/pkg/package.json\n')
        with open(os.path.join(self.worktree_of(tid), 'node_modules/pkg/package.json')) as f:
            self.assertEqual(f.read(), 'changed\n')
        with open(os.path.join(self.m.repo, 'node_modules/pkg/package.json')) as f:
            self.assertEqual(f.read(), '{"name": "pkg"}\n')


class TestCopyInPart(CopyCase):

    def test_a_directory_copied_in_part_says_so_and_keeps_the_rest(self):
        # a path that fits in the checkout and not in the worktree, whose
        # path is longer: the copy goes on past it and says why
        deep = os.path.join(self.m.repo, 'node_modules', 'deep')
        while len(deep) < 4080:
            deep = os.path.join(deep, 'd' * min(200, 4087 - len(deep)))
        os.makedirs(deep)
        with open(os.path.join(deep, 'f'), 'w') as f:
            f.write('x\n')
        tid = self.done('cat node_modules/pkg/package.json\n')
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn("parallelai: worktree.copy: 'node_modules' copied in part: "
                      "File name too long\n", log)
        self.assertIn('{"name": "pkg"}\n', log)


class TestCopiedDirectoryNotIgnored(CopyCase):

    git_config = (('worktree.copy', 'vendor/'),)

    def test_files_under_a_copied_directory_are_not_the_tasks_work(self):
        os.makedirs(os.path.join(self.m.repo, 'vendor', 'lib'))
        with open(os.path.join(self.m.repo, 'vendor', 'lib', 'v.txt'), 'w') as f:
            f.write('vendored\n')   # untracked, not ignored
        tid = self.done('cat vendor/lib/v.txt && echo work > work.txt\n')
        self.assertIn('vendored\n', self.m.read('tasks/%d/log' % tid))
        self.assertEqual(self.m.read('tasks/%d/files' % tid), 'A\twork.txt\n')


class TestCopyOfTheCheckoutRefused(CopyCase):

    git_config = (('worktree.copy', '. ./.git .gitignore'),)

    def test_the_checkout_and_its_git_directory_are_skipped(self):
        tid = self.done('cat .git > /dev/null && git status --short\n')
        log = self.m.read('tasks/%d/log' % tid)
        self.assertIn("parallelai: worktree.copy: '.' skipped: the checkout or its .git\n",
                      log)
        self.assertIn("parallelai: worktree.copy: './.git' skipped: the checkout or its"
                      " .git\n", log)
        self.assertIn("parallelai: worktree.copy: '.gitignore'\n", log)


class TestReflinkCopy(CopyCase):
    """The repository, state and worktrees on XFS with reflink=1."""

    @classmethod
    def setUpClass(cls):
        cls.fs = tempfile.mkdtemp(prefix='pai-reflink-')
        r = subprocess.run([REFLINKFS, 'mount', cls.fs], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            os.rmdir(cls.fs)
            raise unittest.SkipTest('no reflink file system here: ' + r.stdout.strip())

    @classmethod
    def tearDownClass(cls):
        subprocess.run([REFLINKFS, 'umount', cls.fs])

    def setUp(self):
        # PaiTestCase makes its directory with mkdtemp: on the XFS here
        tempfile.tempdir = self.fs
        try:
            wt = tempfile.mkdtemp(prefix='wt-')
            self.mount_opts = ('worktrees=' + wt,)
            super().setUp()
        finally:
            tempfile.tempdir = None

    def used(self):
        os.sync()
        st = os.statvfs(self.fs)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def test_copies_share_the_checkouts_extents_and_count_once(self):
        big = os.path.join(self.m.repo, 'node_modules/pkg/big.bin')
        before = self.used()
        tids = [self.done('cmp node_modules/pkg/big.bin node_modules/pkg/big.bin\n')
                for _ in range(3)]
        grown = self.used() - before
        original = [(p, n) for _, p, n, _ in extents(big)]
        self.assertGreaterEqual(sum(n for _, n in original), BIG)
        wts = [self.worktree_of(t) for t in tids]
        for wt in wts:
            copy = os.path.join(wt, 'node_modules/pkg/big.bin')
            ext = extents(copy)
            self.assertTrue(ext)
            for _, _, _, flags in ext:
                self.assertTrue(flags & FIEMAP_EXTENT_SHARED, ext)
            self.assertEqual([(p, n) for _, p, n, _ in ext], original)
            r = sh('cmp "%s" "%s"' % (big, copy))
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertSameTree(os.path.join(self.m.repo, 'node_modules'),
                                os.path.join(wt, 'node_modules'))
        # three plain copies would take 3 * BIG more; these share
        self.assertLess(grown, BIG, 'the file system grew by %d bytes' % grown)
        # du counts the shared extents once per copy, worktree_bytes once
        # (hundreds of them a worktree, the same ones in each)
        shared = allocated(os.path.join(self.m.repo, 'node_modules'))
        wtdir = os.path.dirname(wts[0])
        # -x: not into overlay worktrees (checkout=overlay), whose
        # files du finds again in their upper and base directories
        du = int(sh('du -s -x -B1 "%s"' % wtdir).stdout.split()[0])
        self.assertGreaterEqual(du, 3 * shared)
        counted = int(self.m.kv('status')['worktree_bytes'])
        self.assertGreaterEqual(counted, shared)
        self.assertLessEqual(abs(counted - (du - 2 * shared)), 256 << 10,
                             'worktree_bytes %d, du %d, shared %d' % (counted, du, shared))

    def test_a_write_into_a_reflinked_copy_leaves_the_checkout_alone(self):
        big = os.path.join(self.m.repo, 'node_modules/pkg/big.bin')
        with open(big, 'rb') as f:
            want = f.read()
        tid = self.done('printf XXXX | dd of=node_modules/pkg/big.bin bs=1 seek=4096'
                        ' conv=notrunc 2>/dev/null\n')
        with open(big, 'rb') as f:
            self.assertEqual(f.read(), want)
        with open(os.path.join(self.worktree_of(tid), 'node_modules/pkg/big.bin'),
                  'rb') as f:
            got = f.read()
        self.assertEqual(got[4096:4100], b'XXXX')
        self.assertEqual(got[:4096] + got[4100:], want[:4096] + want[4100:])


if __name__ == '__main__':
    paitest.main()
