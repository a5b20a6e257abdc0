#!/usr/bin/python3
"""mount -t parallelai, an fstab line, and umount, through /sbin/mount.parallelai."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, run, wait_for  # noqa: E402

HELPER = '/sbin/mount.parallelai'


class TestMountHelper(PaiTestCase):
    autostart = False

    def setUp(self):
        if not os.path.exists(HELPER):
            if os.environ.get('PAI_REQUIRE_INSTALL') == '1':
                self.fail('%s is not installed (PAI_REQUIRE_INSTALL=1)' % HELPER)
            self.skipTest('%s is not installed: run meson install first' % HELPER)
        super().setUp()

    def tearDown(self):
        # the daemon is not our child: unmount and wait for it to go
        pids = paitest.daemon_pids(self.m.mnt)
        if os.path.ismount(self.m.mnt):
            run(['umount', self.m.mnt])
        wait_for(lambda: not any(paitest.pid_alive(p) for p in pids), 30,
                 msg='daemon to exit after umount')

    def check_mount_works(self, workers):
        self.assertTrue(os.path.ismount(self.m.mnt))
        self.assertEqual(self.m.kv('status').get('workers'), str(workers))
        tid = self.m.submit('echo via-mount-helper > helper.txt\n')
        self.assertDone(tid)
        self.assertIn('fuse', self.fstype())

    def fstype(self):
        with open('/proc/self/mounts') as f:
            for line in f:
                parts = line.split()
                if parts[1] == self.m.mnt:
                    return parts[2]
        return ''

    def umount_works(self):
        pids = paitest.daemon_pids(self.m.mnt)
        self.assertTrue(pids, 'no daemon process names %s' % self.m.mnt)
        r = run(['umount', self.m.mnt])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.ismount(self.m.mnt))
        wait_for(lambda: not any(paitest.pid_alive(p) for p in pids), 30,
                 msg='daemon to exit after umount')

    def test_mount_t_parallelai_with_options(self):
        r = run(['mount', '-t', 'parallelai', self.m.repo, self.m.mnt, '-o', 'workers=2'], timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.check_mount_works(2)
        self.umount_works()

    def test_fstab_line_mounts_and_umount_unmounts(self):
        fstab = os.path.join(self.tmp, 'fstab')
        with open(fstab, 'w') as f:
            f.write('# test fstab\n%s %s parallelai workers=3,noauto 0 0\n' % (self.m.repo, self.m.mnt))
        r = run(['mount', '--fstab', fstab, self.m.mnt], timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.check_mount_works(3)
        self.umount_works()

    def test_mount_t_refuses_bad_option(self):
        r = run(['mount', '-t', 'parallelai', self.m.repo, self.m.mnt, '-o', 'workers=abc'], timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.ismount(self.m.mnt))


if __name__ == '__main__':
    paitest.main()
