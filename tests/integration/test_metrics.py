#!/usr/bin/python3
"""MNT/metrics: the daemon's numbers in the Prometheus text exposition
format, read with cat like any other file."""

import errno
import json
import os
import re
import sys
import threading
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import paitest  # noqa: E402
from paitest import PaiTestCase, git, sh, wait_for  # noqa: E402

FAKE_CLI = os.path.join(HERE, 'fake_cli.py')

TASK_STATES = ('queued', 'running', 'done', 'failed', 'cancelled', 'merged',
               'waiting', 'blocked')
PLAN_STATES = ('planning', 'waiting', 'created', 'failed', 'cancelled')

# An engine configured under a name that needs escaping in a label value.
ODD_ENGINE = 'odd "quoted" \\ name'

# Just the final event of a Claude Code stream: tokens and a price.
CLAUDE_USAGE = {
    'lines': [
        {'type': 'result', 'subtype': 'success', 'is_error': False,
         'num_turns': 1, 'result': 'ok', 'total_cost_usd': 0.0123,
         'usage': {'input_tokens': 30, 'output_tokens': 70}},
    ],
}

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*\Z')
LABEL_NAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*\Z')
TYPES = ('counter', 'gauge', 'histogram', 'summary', 'untyped')


def parse_labels(text, line):
    """'a="x",b="y\\"z"' into a dict, unescaping the values."""
    labels = {}
    i = 0
    while i < len(text):
        eq = text.index('=', i)
        name = text[i:eq]
        if not LABEL_NAME.match(name) or name in labels:
            raise ValueError('bad label name %r in %r' % (name, line))
        if text[eq + 1:eq + 2] != '"':
            raise ValueError('unquoted label value in %r' % line)
        j = eq + 2
        value = []
        while True:
            if j >= len(text):
                raise ValueError('unterminated label value in %r' % line)
            c = text[j]
            if c == '\\':
                esc = text[j + 1:j + 2]
                if esc not in ('\\', '"', 'n'):
                    raise ValueError('bad escape \\%s in %r' % (esc, line))
                value.append('\n' if esc == 'n' else esc)
                j += 2
            elif c == '"':
                j += 1
                break
            else:
                value.append(c)
                j += 1
        labels[name] = ''.join(value)
        if j < len(text):
            if text[j] != ',':
                raise ValueError('no comma between labels in %r' % line)
            j += 1
        i = j
    return labels


def split_sample(line):
    """'name{labels} value' into (name, labels, value text)."""
    if '{' in line:
        name, rest = line.split('{', 1)
        # the labels end at the last '}': values may hold braces
        body, tail = rest.rsplit('}', 1)
        if not tail.startswith(' '):
            raise ValueError('no space before the value in %r' % line)
        return name, parse_labels(body, line), tail[1:]
    name, sep, value = line.partition(' ')
    if not sep:
        raise ValueError('sample without a value: %r' % line)
    return name, {}, value


def parse_exposition(text):
    """A strict reader of the text format: every metric has its HELP and
    TYPE lines before its samples, samples of one metric are together,
    names are valid, values are numbers. Returns {name: {'type', 'help',
    'samples': {frozenset(labels): value}}}."""
    if text and not text.endswith('\n'):
        raise ValueError('the text does not end with a newline')
    families = {}
    current = None
    for line in text.split('\n')[:-1]:
        if line == '':
            continue
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) < 3 or parts[0] != '#' or parts[1] not in ('HELP', 'TYPE'):
                continue    # a plain comment
            kind, name = parts[1], parts[2]
            if not NAME.match(name):
                raise ValueError('bad metric name %r' % name)
            fam = families.get(name)
            if fam is None:
                fam = families[name] = {'name': name, 'type': None,
                                        'help': None, 'samples': {}}
            elif fam['samples']:
                raise ValueError('%s %s after its samples' % (kind, name))
            if kind == 'HELP':
                if fam['help'] is not None:
                    raise ValueError('second HELP for %s' % name)
                fam['help'] = parts[3] if len(parts) > 3 else ''
            else:
                if fam['type'] is not None:
                    raise ValueError('second TYPE for %s' % name)
                if len(parts) != 4 or parts[3] not in TYPES:
                    raise ValueError('bad TYPE line %r' % line)
                fam['type'] = parts[3]
            current = fam
            continue
        name, labels, value = split_sample(line)
        if not NAME.match(name):
            raise ValueError('bad metric name %r' % name)
        if ' ' in value:
            raise ValueError('a timestamp or junk after the value: %r' % line)
        number = float(value)
        fam = families.get(name)
        if fam is None or fam is not current:
            raise ValueError('sample %r not right after its HELP and TYPE'
                             ' or its family\'s other samples' % line)
        if fam['help'] is None or fam['type'] is None:
            raise ValueError('sample %r before HELP and TYPE' % line)
        key = frozenset(labels.items())
        if key in fam['samples']:
            raise ValueError('duplicate sample %r' % line)
        fam['samples'][key] = number
    for name, fam in families.items():
        if fam['help'] is None or fam['type'] is None:
            raise ValueError('%s lacks HELP or TYPE' % name)
        if fam['type'] == 'counter' and not name.endswith('_total'):
            raise ValueError('counter %s does not end in _total' % name)
    return families


class TestParser(unittest.TestCase):
    """The test's own reader refuses what it should (no mount needed)."""

    def test_parser_refuses_malformed_text(self):
        good = '# HELP a_total A.\n# TYPE a_total counter\na_total 1\n'
        self.assertEqual(parse_exposition(good)['a_total']['samples'],
                         {frozenset(): 1.0})
        for bad in ('a 1\n',
                    '# TYPE a gauge\na 1\n',
                    '# HELP a A.\n# TYPE a gauge\na 1',
                    '# HELP a A.\n# TYPE a gauge\na one\n',
                    '# HELP a A.\n# TYPE a counter\na 1\n',
                    '# HELP 1a A.\n# TYPE 1a gauge\n1a 1\n',
                    '# HELP a A.\n# TYPE a gauge\na{s="x} 1\n',
                    '# HELP a A.\n# TYPE a gauge\na{s="\\t"} 1\n',
                    '# HELP a A.\n# TYPE a gauge\na 1\na 2\n',
                    '# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\n'
                    'b 1\na 1\n'):
            with self.assertRaises(ValueError, msg=repr(bad)):
                parse_exposition(bad)
        fams = parse_exposition('# HELP a A.\n# TYPE a gauge\n'
                                'a{s="x\\"y\\\\z\\n",t="}"} 2\n')
        self.assertEqual(fams['a']['samples'],
                         {frozenset({'s': 'x"y\\z\n', 't': '}'}.items()): 2.0})


class TestMetrics(PaiTestCase):

    workers = 2

    def prepare_repo(self, repo):
        git(repo, 'config', 'engine.%s.command' % ODD_ENGINE, 'true')
        script = os.path.join(self.tmp, 'claude.json')
        with open(script, 'w') as f:
            json.dump(CLAUDE_USAGE, f)
        # The result goes where the daemon reads an agent's report (the
        # default state directory), as the claude preset would put it.
        state = os.path.join(repo, '.git', 'parallelai')
        git(repo, 'config', 'engine.fakeclaude.command',
            '%s stream --format claude --raw %s/logs/{task_id}.jsonl '
            '--result %s/results/{task_id}.json -- %s %s %s {prompt}'
            % (paitest.PAI_BIN, state, state, sys.executable, FAKE_CLI,
               script))
        # it writes the daemon's own report files in the state directory,
        # which a sandbox keeps read-only but for a preset's own run
        git(repo, 'config', 'engine.fakeclaude.sandbox', 'none')

    def metrics(self):
        r = sh('cat %s/metrics' % self.m.mnt)
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            return parse_exposition(r.stdout)
        except ValueError as e:
            self.fail('%s in:\n%s' % (e, r.stdout))

    def value(self, fams, name, **labels):
        self.assertIn(name, fams)
        key = frozenset(labels.items())
        self.assertIn(key, fams[name]['samples'],
                      '%s%s not in %s' % (name, labels, fams[name]['samples']))
        return fams[name]['samples'][key]

    def task_gauges(self, fams):
        return {dict(k)['state']: v
                for k, v in fams['parallelai_tasks']['samples'].items()}

    def test_cat_metrics_parses_as_prometheus_text(self):
        fams = self.metrics()
        self.assertEqual(fams['parallelai_tasks']['type'], 'gauge')
        self.assertEqual(self.task_gauges(fams), {s: 0 for s in TASK_STATES})
        self.assertEqual({dict(k)['state']: v for k, v in
                          fams['parallelai_plans']['samples'].items()},
                         {s: 0 for s in PLAN_STATES})
        self.assertEqual(self.value(fams, 'parallelai_workers'), 2)
        self.assertEqual(self.value(fams, 'parallelai_workers_busy'), 0)
        self.assertEqual(self.value(fams, 'parallelai_paused'), 0)
        self.assertEqual(self.value(fams, 'parallelai_tasks_created_total'), 0)
        self.assertEqual(self.value(fams, 'parallelai_input_tokens_total'), 0)
        self.assertEqual(self.value(fams, 'parallelai_output_tokens_total'), 0)
        # no engine reported a price: no cost rather than a made-up 0
        self.assertNotIn('parallelai_cost_usd_total', fams)
        for name, fam in fams.items():
            self.assertTrue(name.startswith('parallelai_'), name)
            self.assertTrue(fam['help'], name)
        started = self.value(fams, 'parallelai_start_time_seconds')
        self.assertLess(abs(started - os.stat(self.m.mnt).st_mtime), 3600)
        self.assertEqual(len(fams['parallelai_build_info']['samples']), 1)

    def test_task_gauges_count_finished_tasks(self):
        ids = [self.m.submit(p) for p in ('true\n', 'false\n', 'true\n', 'true\n')]
        for tid in ids:
            self.m.wait_final(tid)
        fams = self.metrics()
        want = {s: 0 for s in TASK_STATES}
        want.update(done=3, failed=1)
        self.assertEqual(self.task_gauges(fams), want)
        self.assertEqual(self.value(fams, 'parallelai_tasks_created_total'), 4)
        self.assertEqual(self.value(fams, 'parallelai_workers_busy'), 0)

    def test_submissions_and_the_commits_they_share(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        for i in range(3):       # one at a time: a commit each
            self.m.submit('echo %d\n' % i)
        self.assertNotEqual(self.m.try_new('{"prompt": '), 0)   # never stored
        fams = self.metrics()
        self.assertEqual(self.value(fams, 'parallelai_submit_batches_total'), 3)
        self.assertEqual(self.value(fams, 'parallelai_submit_commits_total'), 3)

        # Submissions that arrive while a commit is being written share
        # the next one. Eight writers open tasks/new and write; the
        # database's write lock is taken (as another writer would), so the
        # commit of the first to close waits; once the other seven wait
        # behind it, the lock goes: two commits for eight tasks.
        import sqlite3
        db = sqlite3.connect(os.path.join(self.m.repo, '.git', 'parallelai', 'state.db'),
                             timeout=10, isolation_level=None)
        self.addCleanup(db.close)
        written = threading.Barrier(9)
        locked = threading.Barrier(9)
        results = []

        def writer(w):
            fd = os.open(self.m.path('tasks/new'), os.O_WRONLY | os.O_TRUNC)
            os.write(fd, b'echo %d\n' % w)
            written.wait(30)
            locked.wait(30)
            try:
                os.close(fd)
                results.append(0)
            except OSError as e:
                results.append(e.errno)
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        written.wait(30)
        sleeping = self.daemon_threads_in('futex')
        db.execute('BEGIN IMMEDIATE')
        try:
            locked.wait(30)
            # seven more daemon threads wait on the group's condition
            # variable (a futex); the first sleeps in SQLite's busy wait
            wait_for(lambda: self.daemon_threads_in('futex') >= sleeping + 7,
                     4, msg='seven submissions to wait behind the first')
        finally:
            db.execute('ROLLBACK')
        for t in threads:
            t.join()
        self.assertEqual(results, [0] * 8)
        fams = self.metrics()
        self.assertEqual(self.value(fams, 'parallelai_submit_batches_total'), 11)
        self.assertEqual(self.value(fams, 'parallelai_submit_commits_total'), 3 + 2)
        self.assertEqual(self.value(fams, 'parallelai_tasks_created_total'), 11)
        self.assertEqual(len(self.m.task_ids()), 11)

    def daemon_threads_in(self, prefix):
        """How many of the daemon's threads sleep in a kernel function
        whose name starts with prefix (/proc/PID/task/TID/wchan)."""
        pid = self.m.proc.pid
        n = 0
        for t in os.listdir('/proc/%d/task' % pid):
            try:
                with open('/proc/%d/task/%s/wchan' % (pid, t)) as f:
                    n += f.read().startswith(prefix)
            except OSError:
                pass
        return n

    def test_metrics_agree_with_status(self):
        for tid in (self.m.submit('true\n'), self.m.submit('exit 2\n')):
            self.m.wait_final(tid)
        fams = self.metrics()
        kv = self.m.kv('status')
        for state in TASK_STATES:
            self.assertEqual(self.value(fams, 'parallelai_tasks', state=state),
                             int(kv[state]), state)
        self.assertEqual(self.value(fams, 'parallelai_workers'), int(kv['workers']))
        self.assertEqual(self.value(fams, 'parallelai_workers_busy'), int(kv['busy']))
        self.assertEqual(self.value(fams, 'parallelai_tasks_created_total'),
                         int(kv['tasks']))

    def test_running_task_counts_for_its_engine(self):
        tid = self.m.submit('sleep 60\n')
        self.m.wait_state(tid, 'running')

        def busy():
            fams = self.metrics()
            return fams if self.value(fams, 'parallelai_workers_busy') == 1 else None
        fams = wait_for(busy, 10, msg='a busy worker in metrics')
        self.assertEqual(self.value(fams, 'parallelai_tasks', state='running'), 1)
        self.assertEqual(self.value(fams, 'parallelai_engine_running', engine='sh'), 1)
        self.assertEqual(self.value(fams, 'parallelai_engine_breaker_open', engine='sh'), 0)
        self.assertEqual(self.m.ctl('tasks/%d/ctl' % tid, 'cancel\n'), 0)
        self.m.wait_final(tid)
        fams = self.metrics()
        self.assertEqual(self.value(fams, 'parallelai_engine_running', engine='sh'), 0)
        self.assertEqual(self.value(fams, 'parallelai_tasks', state='cancelled'), 1)

    def test_engine_names_are_escaped_in_labels(self):
        r = sh('cat %s/metrics' % self.m.mnt)
        self.assertIn('parallelai_engine_running{engine="odd \\"quoted\\" \\\\ name"} 0\n',
                      r.stdout)
        fams = parse_exposition(r.stdout)
        self.assertEqual(self.value(fams, 'parallelai_engine_running', engine=ODD_ENGINE), 0)
        self.assertEqual(self.value(fams, 'parallelai_engine_breaker_open',
                                    engine=ODD_ENGINE), 0)

    def test_tokens_and_cost_add_up_over_tasks(self):
        for _ in range(2):
            tid = self.m.submit(json.dumps({'prompt': 'go', 'engine': 'fakeclaude'}))
            self.assertDone(tid)
        fams = self.metrics()
        self.assertEqual(self.value(fams, 'parallelai_input_tokens_total'), 60)
        self.assertEqual(self.value(fams, 'parallelai_output_tokens_total'), 140)
        self.assertAlmostEqual(self.value(fams, 'parallelai_cost_usd_total'), 0.0246)
        self.assertEqual(fams['parallelai_cost_usd_total']['type'], 'counter')
        kv = self.m.kv('status')
        self.assertEqual(int(kv['input_tokens']), 60)
        self.assertEqual(int(kv['output_tokens']), 140)

    def test_counters_carry_over_a_remount(self):
        ids = [self.m.submit(json.dumps({'prompt': 'go', 'engine': 'fakeclaude'}))
               for _ in range(2)]
        ids.append(self.m.submit('false\n'))
        for tid in ids:
            self.m.wait_final(tid)
        before = self.metrics()
        self.m.unmount()
        self.m.remount()
        after = self.metrics()
        # from the store: the same numbers, not counted again from 0
        for name in ('parallelai_tasks_created_total', 'parallelai_input_tokens_total',
                     'parallelai_output_tokens_total', 'parallelai_cost_usd_total'):
            self.assertEqual(self.value(after, name), self.value(before, name), name)
        self.assertEqual(self.value(after, 'parallelai_tasks_created_total'), 3)
        self.assertEqual(self.value(after, 'parallelai_input_tokens_total'), 60)
        self.assertAlmostEqual(self.value(after, 'parallelai_cost_usd_total'), 0.0246)
        self.assertEqual(self.task_gauges(after), self.task_gauges(before))
        # the submissions since the mount start again, as the README says
        self.assertEqual(self.value(before, 'parallelai_submit_batches_total'), 3)
        self.assertEqual(self.value(after, 'parallelai_submit_batches_total'), 0)
        self.assertEqual(self.value(after, 'parallelai_submit_commits_total'), 0)
        self.m.submit('true\n')
        fams = self.metrics()
        self.assertEqual(self.value(fams, 'parallelai_tasks_created_total'), 4)
        self.assertEqual(self.value(fams, 'parallelai_submit_batches_total'), 1)

    def test_pause_shows_in_metrics(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        self.assertEqual(self.value(self.metrics(), 'parallelai_paused'), 1)
        self.assertEqual(self.m.ctl('ctl', 'resume\n'), 0)
        self.assertEqual(self.value(self.metrics(), 'parallelai_paused'), 0)

    def test_stat_size_matches_bytes_read(self):
        tid = self.m.submit('true\n')
        self.m.wait_final(tid)
        path = self.m.path('metrics')
        size = os.stat(path).st_size
        data = self.m.read_bytes('metrics')
        self.assertGreater(size, 0)
        self.assertEqual(size, len(data))
        with open(path, 'rb') as f:
            self.assertEqual(os.fstat(f.fileno()).st_size, len(f.read()))
        r = sh('wc -c < %s/metrics' % self.m.mnt)
        self.assertEqual(int(r.stdout), size)

    def test_metrics_is_listed_and_read_only(self):
        self.assertIn('metrics', os.listdir(self.m.mnt))
        path = self.m.path('metrics')
        st = os.stat(path)
        self.assertEqual(st.st_mode & 0o777, 0o400)   # the owner's alone
        self.assertFalse(os.access(path, os.W_OK))
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND,
                      os.O_WRONLY | os.O_TRUNC):
            try:
                fd = os.open(path, flags)
            except OSError as e:
                self.assertErrno(e.errno, errno.EACCES)
            else:
                os.close(fd)
                self.fail('metrics opened for writing (flags %o)' % flags)
        with self.assertRaises(OSError) as cm:
            os.truncate(path, 0)
        self.assertErrno(cm.exception.errno, errno.EACCES, errno.EPERM)
        r = sh('echo x > %s/metrics' % self.m.mnt)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('ermission denied', r.stderr)
        self.metrics()


class TestBreakerMetrics(PaiTestCase):
    """An agent engine that keeps failing opens its breaker."""

    def prepare_repo(self, repo):
        # the claude preset's name, so the breaker counts it; a command
        # of its own, so no real CLI runs
        git(repo, 'config', 'engine.claude.command', 'false')
        git(repo, 'config', 'parallelai.breakerFailures', '1')
        git(repo, 'config', 'parallelai.breakerCooldown', '3600')

    def test_open_breaker_shows_as_1(self):
        tid = self.m.submit(json.dumps({'prompt': 'x', 'engine': 'claude'}))
        self.assertEqual(self.m.wait_final(tid), 'failed')
        text = self.m.read('metrics')
        fams = parse_exposition(text)
        open_ = {dict(k)['engine']: v for k, v in
                 fams['parallelai_engine_breaker_open']['samples'].items()}
        self.assertEqual(open_.get('claude'), 1, text)
        self.assertEqual(open_.get('sh'), 0, text)


if __name__ == '__main__':
    paitest.main()
