#!/usr/bin/python3
"""MNT/index.html and MNT/timeline.svg: the run at a glance, opened from
the mount in a real browser (Debian's chromium, headless) and rendered
by rsvg-convert, from a mount with a finished, a failed and a running
task. The screenshots are kept under $PAI_ARTIFACTS (or the build
directory's artifacts/) and their paths printed."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import paitest  # noqa: E402
from paitest import PaiTestCase, wait_for  # noqa: E402

SVG = '{http://www.w3.org/2000/svg}'
ARTIFACTS = os.environ.get('PAI_ARTIFACTS') or os.path.join(
    os.path.dirname(os.path.abspath(paitest.PAI_BIN)), 'artifacts')
OUT = os.path.join(ARTIFACTS, 'test_dashboard')

# The done task's first line: markup that must show as text, and a script
# that marks the page if it ever runs.
HOSTILE = ('# <script>document.documentElement.setAttribute("data-pwned", "1")'
           '</script> <b>bold</b> & "quoted"')


def chromium():
    return shutil.which('chromium') or shutil.which('chromium-browser')


def browse(url, *extra, timeout=120):
    """One headless chromium run over url: (stdout, stderr)."""
    prof = tempfile.mkdtemp(prefix='pai-chromium-')
    try:
        r = subprocess.run(
            [chromium(), '--headless=new', '--no-sandbox', '--disable-gpu',
             '--disable-background-networking', '--disable-component-update',
             '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
             '--user-data-dir=' + prof,
             '--enable-logging=stderr', '--v=0', '--virtual-time-budget=2000',
             '--window-size=1200,800'] + list(extra) + [url],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=timeout)
        return (r.stdout.decode('utf-8', 'replace'),
                r.stderr.decode('utf-8', 'replace'))
    finally:
        shutil.rmtree(prof, ignore_errors=True)


def script_errors(stderr):
    return [line for line in stderr.splitlines() if 'Uncaught' in line]


def bars(root):
    """The bars of a timeline: (task, fill, title) of each nested svg."""
    out = []
    for a in root.iter(SVG + 'a'):
        for bar in a.iter(SVG + 'svg'):
            rect = bar.find(SVG + 'rect')
            title = bar.find(SVG + 'title')
            label = bar.find(SVG + 'text')
            out.append((int(label.text), rect.get('fill'), title.text))
    return out


class TestDashboard(PaiTestCase):
    workers = 2

    def setUp(self):
        super().setUp()
        self.gate = os.path.join(self.tmp, 'go')
        self.done = self.m.submit(HOSTILE + '\necho hi > hello.txt\n')
        self.assertDone(self.done)
        self.failed = self.m.submit('# this one fails\nexit 3\n')
        self.assertEqual(self.m.wait_final(self.failed), 'failed')
        self.running = self.m.submit(
            '# waits for its gate\nwhile [ ! -e %s ]; do sleep 0.1; done\n'
            % self.gate)
        self.m.wait_state(self.running, 'running')
        # and its pid recorded: the last change of its row before any
        # test's own (the page orders tasks by their last change)
        self.m.pid_of(self.running)
        self.addCleanup(self.open_gate)

    def open_gate(self):
        with open(self.gate, 'w'):
            pass
        self.m.wait_final(self.running)

    def need(self, *tools):
        for t in tools:
            if not shutil.which(t):
                self.skipTest('%s is not installed (contrib/install-deps)' % t)

    def test_page_in_chromium_shows_tasks_and_runs_no_script(self):
        if not chromium():
            self.skipTest('chromium is not installed (contrib/install-deps)')
        os.makedirs(OUT, exist_ok=True)
        url = 'file://' + self.m.path('index.html')
        dom, err = browse(url, '--dump-dom')
        self.assertEqual(script_errors(err), [], err[-3000:])
        for tid, state in ((self.done, 'done'), (self.failed, 'failed'),
                           (self.running, 'running')):
            self.assertRegex(dom, r'<tr id="task-%d" class="task %s">'
                             % (tid, state))
        # the prompt's markup is text on the page, its script never ran
        self.assertNotIn('data-pwned="1"', dom)
        self.assertIn('&lt;script&gt;document.documentElement', dom)
        self.assertIn('&lt;b&gt;bold&lt;/b&gt; &amp; "quoted"', dom)
        self.assertIn('waits for its gate', dom)
        self.assertRegex(dom, r'<tr id="worker-\d" class="busy">')
        self.assertIn('id="events"', dom)
        self.assertIn('http-equiv="refresh"', dom)

        page = os.path.join(OUT, 'index.png')
        svg = os.path.join(OUT, 'timeline.png')
        for target, png in ((url, page),
                            ('file://' + self.m.path('timeline.svg'), svg)):
            if os.path.exists(png):
                os.unlink(png)
            _, err = browse(target, '--screenshot=' + png)
            self.assertEqual(script_errors(err), [], err[-3000:])
            with open(png, 'rb') as f:
                self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')
            self.assertGreater(os.path.getsize(png), 10000)
            print('screenshot: %s' % png, flush=True)

    def test_timeline_is_valid_svg_with_a_bar_per_attempt(self):
        self.need('rsvg-convert')
        text = self.m.read_bytes('timeline.svg')
        root = ET.fromstring(text)
        self.assertEqual(root.tag, SVG + 'svg')
        got = {tid: (fill, title) for tid, fill, title in bars(root)}
        self.assertEqual(sorted(got), sorted([self.done, self.failed,
                                              self.running]))
        self.assertIn('done', got[self.done][1])
        self.assertIn('failed', got[self.failed][1])
        self.assertIn('running', got[self.running][1])
        self.assertEqual(len({got[t][0] for t in got}), 3, got)
        # the title is the prompt's first line, as text
        self.assertIn('<script>document', got[self.done][1])
        rows = [t.text for t in root.iter(SVG + 'text')
                if t.text and t.text.startswith('worker ')]
        self.assertEqual(rows, ['worker 1', 'worker 2'])

        os.makedirs(OUT, exist_ok=True)
        png = os.path.join(OUT, 'timeline-rsvg.png')
        src = os.path.join(self.tmp, 'timeline.svg')
        shutil.copyfile(self.m.path('timeline.svg'), src)
        r = subprocess.run(['rsvg-convert', '-o', png, src],
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(png, 'rb') as f:
            self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')
        print('rendered: %s' % png, flush=True)

        one = ET.fromstring(self.m.read_bytes('tasks/%d/timeline.svg'
                                              % self.failed))
        self.assertEqual([b[0] for b in bars(one)], [self.failed])

    def test_retry_adds_a_bar_and_the_first_keeps_its_outcome(self):
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % self.failed, 'retry\n'), 0)
        wait_for(lambda: self.m.state(self.failed) == 'failed' and
                 self.m.status(self.failed).get('attempts') == '2',
                 msg='the retry to fail too')
        root = ET.fromstring(self.m.read_bytes('tasks/%d/timeline.svg'
                                               % self.failed))
        titles = [b[2] for b in bars(root)]
        self.assertEqual(len(titles), 2, titles)
        self.assertTrue(all(', attempt %d: failed' % k in ''.join(titles)
                            for k in (1, 2)), titles)

    def test_odd_bytes_keep_both_well_formed(self):
        tid = self.m.submit(b'# caf\xc3\xa9 \xff\xfe \x01\x1b[31mred\x1b[0m ]]> &#0;\ntrue\n')
        self.assertDone(tid)
        root = ET.fromstring(self.m.read_bytes('timeline.svg'))
        title = dict((t, title) for t, _, title in bars(root))[tid]
        self.assertIn('caf\u00e9 \ufffd\ufffd \ufffd\ufffd[31mred', title)
        self.assertIn(']]> &#0;', title)
        page = self.m.read_bytes('index.html').decode('utf-8')   # strict
        self.assertIn('caf\u00e9 \ufffd\ufffd \ufffd\ufffd[31mred', page)
        self.assertIn(']]&gt; &amp;#0;', page)

    def test_sizes_are_exact_while_a_task_runs(self):
        for name in ('index.html', 'timeline.svg',
                     'tasks/%d/timeline.svg' % self.running):
            path = self.m.path(name)
            for _ in range(5):
                size = os.stat(path).st_size
                with open(path, 'rb') as f:
                    data = f.read()
                self.assertEqual(size, len(data), name)
                self.assertTrue(data.rstrip().endswith(
                    b'</html>' if name.endswith('html') else b'</svg>'), name)
            copy = os.path.join(self.tmp, 'copy')
            r = subprocess.run(['cp', path, copy], stderr=subprocess.PIPE)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(copy, 'rb') as f:
                self.assertTrue(f.read().rstrip().endswith(
                    b'</html>' if name.endswith('html') else b'</svg>'), name)

    def test_page_shows_the_newest_and_counts_the_rest(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        n = 230
        for i in range(n):
            self.m.write_new('echo %d\n' % i)
        page = self.m.read('index.html')
        shown = re.findall(r'<tr id="task-(\d+)"', page)
        # the running one, then the 200 changed last: the newest queued
        self.assertEqual(len(shown), 201)
        self.assertEqual(shown[0], str(self.running))
        self.assertEqual(sorted(map(int, shown[1:]))[0], n + 3 - 199)
        self.assertIn('201 of %d tasks' % (n + 3), page)
        self.assertRegex(page, r'queued: %d \(\d+ shown\)' % n)


if __name__ == '__main__':
    paitest.main()
