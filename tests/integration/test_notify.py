#!/usr/bin/python3
"""[notify "NAME"] sections: events sent on by an HTTP POST to a loopback
receiver started by the test, or by a command; retries, time-outs, a
kill -9 with deliveries pending, and secrets that never show."""

import json
import os
import stat
import socket
import sqlite3
import sys
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import paitest  # noqa: E402
from paitest import PaiTestCase, git, run, sh, wait_for  # noqa: E402

FAKE_CLI = os.path.join(HERE, 'fake_cli.py')
SECRET_PATH = 'hook-path-8f3a1c77e2'
SECRET_HEADER = 'bearer-token-5d2e9b41c0'

# Claude Code refused two tools and said so at its end.
CLAUDE_DENIED = {
    'lines': [
        {'type': 'result', 'subtype': 'success', 'is_error': False,
         'num_turns': 2, 'result': 'I need permission to write hello.txt.',
         'usage': {'input_tokens': 10, 'output_tokens': 5},
         'permission_denials': [
             {'tool_name': 'Write', 'tool_use_id': 't1',
              'tool_input': {'file_path': 'hello.txt', 'content': 'hi'}},
             {'tool_name': 'Bash', 'tool_use_id': 't2',
              'tool_input': {'command': 'rm -rf build'}}]},
    ],
}


def free_port():
    """A port nobody listens on (for a receiver that is down)."""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Receiver:
    """A loopback HTTP server that records each POST and answers with the
    next status of `statuses` (200 once they run out), or, with hang, not
    at all until released."""

    def __init__(self, port=0, statuses=(), hang=False):
        self.requests = []
        self.statuses = list(statuses)
        self.hang = hang
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(('127.0.0.1', port), self.handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    def url(self):
        return 'http://127.0.0.1:%d/%s?key=%s' % (self.port, SECRET_PATH, SECRET_PATH)

    def handler(self):
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                with rec.lock:
                    rec.requests.append({'path': self.path, 'headers': dict(self.headers),
                                         'body': body})
                    status = rec.statuses.pop(0) if rec.statuses else 200
                if rec.hang:
                    rec.release.wait(120)
                    return
                self.send_response(status)
                self.send_header('Content-Length', '2')
                self.end_headers()
                self.wfile.write(b'ok')

            def log_message(self, *args):
                pass
        return Handler

    def bodies(self):
        with self.lock:
            return [json.loads(r['body']) for r in self.requests]

    def wait_requests(self, n, timeout=60.0):
        return wait_for(lambda: len(self.requests) >= n and self.bodies(), timeout,
                        msg='%d requests at the receiver' % n)

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class NotifyCase(PaiTestCase):
    autostart = False

    def receiver(self, **kw):
        r = Receiver(**kw)
        self.addCleanup(r.stop)
        return r

    def sink(self, name, **keys):
        for k, v in keys.items():
            for one in (v if isinstance(v, list) else [v]):
                git(self.m.repo, 'config', '--add', 'notify.%s.%s' % (name, k), str(one))

    def state_dir(self):
        return os.path.join(self.m.repo, '.git', 'parallelai')

    def outbox(self):
        db = sqlite3.connect('file:%s/state.db?mode=ro' % self.state_dir(), uri=True)
        try:
            return db.execute('select event_id, sink, attempts from outbox').fetchall()
        finally:
            db.close()

    def failed_events(self):
        return self.m.events_of('notify_failed')


class TestHttp(NotifyCase):

    def test_finished_task_is_posted_as_json(self):
        rec = self.receiver()
        self.sink('hook', events='finished failed', url=rec.url(),
                  header='Authorization: Bearer ' + SECRET_HEADER)
        self.m.start()
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        got = rec.wait_requests(1)
        self.assertEqual(len(got), 1, got)
        ev = got[0]
        self.assertEqual(ev['event'], 'finished')
        self.assertEqual(ev['task'], tid)
        self.assertEqual(ev['state'], 'done')
        self.assertEqual(ev['exit'], 0)
        self.assertEqual(ev['title'], 'true')
        self.assertEqual(ev['repo'], os.path.realpath(self.m.repo))
        self.assertTrue(ev['id'])
        req = rec.requests[0]
        self.assertEqual(req['path'], '/%s?key=%s' % (SECRET_PATH, SECRET_PATH))
        self.assertEqual(req['headers'].get('Authorization'), 'Bearer ' + SECRET_HEADER)
        self.assertEqual(req['headers'].get('Content-Type'), 'application/json')

        # a failure is "failed"; events nobody asked for are not sent
        bad = self.m.submit('exit 3\n')
        self.assertEqual(self.m.wait_final(bad), 'failed')
        got = rec.wait_requests(2)
        self.assertEqual([(e['event'], e['task'], e.get('exit')) for e in got],
                         [('finished', tid, 0), ('failed', bad, 3)])
        self.assertNotEqual(got[0]['id'], got[1]['id'])
        self.assertEqual(self.outbox(), [])

    def test_slack_format_sends_text(self):
        rec = self.receiver()
        self.sink('chat', events='*', url=rec.url(), format='slack')
        self.m.start()
        tid = self.m.submit('echo fix the parser\n')
        self.assertDone(tid)
        got = wait_for(lambda: [b for b in rec.bodies() if 'finished' in b.get('text', '')],
                       msg='the finished message')
        self.assertEqual(list(got[0].keys()), ['text'])
        self.assertIn('task %d finished: echo fix the parser' % tid, got[0]['text'])
        # "*" takes created and started too
        texts = [b['text'] for b in rec.bodies()]
        self.assertTrue(any('task %d created' % tid in t for t in texts), texts)

    def test_503_is_retried_until_delivered(self):
        rec = self.receiver(statuses=[503, 503])
        self.sink('hook', events='finished', url=rec.url(), retries=3)
        self.m.start()
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        got = rec.wait_requests(3)
        self.assertEqual(len(got), 3)
        # the same event each time, so a receiver can tell
        self.assertEqual(len({b['id'] for b in got}), 1)
        self.assertEqual(got[0]['task'], tid)
        wait_for(lambda: self.outbox() == [], msg='the outbox to empty')
        self.assertEqual(self.failed_events(), [])

    def test_last_retry_logs_notify_failed(self):
        rec = self.receiver(statuses=[503] * 10)
        watch = self.receiver()
        self.sink('hook', events='finished notify_failed', url=rec.url(), retries=1)
        self.sink('watch', events='notify_failed', url=watch.url())
        self.m.start()
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        failed = wait_for(self.failed_events, msg='notify_failed')
        self.assertEqual(len(rec.requests), 2)
        f = failed[0]
        self.assertEqual((f['notify'], f['for'], f['task'], f['attempts'], f['reason']),
                         ('hook', 'finished', tid, 2, 'HTTP 503'))
        self.assertEqual(f['for_id'], json.loads(rec.requests[0]['body'])['id'])
        # the failure goes to the other notifier, never back to its own
        got = watch.wait_requests(1)
        self.assertEqual((got[0]['event'], got[0]['notify'], got[0]['for_id']),
                         ('notify_failed', 'hook', f['for_id']))
        self.assertNotEqual(got[0]['id'], f['for_id'])
        self.assertEqual(watch.requests[0]['body'].count(b'"id"'), 1)
        self.assertEqual(len(rec.requests), 2)
        self.assertEqual(self.outbox(), [])

    def test_hung_receiver_leaves_the_mount_responsive(self):
        rec = self.receiver(hang=True)
        self.sink('hook', events='finished', url=rec.url(), timeout=600)
        self.m.start()
        first = self.m.submit('true\n')
        self.assertDone(first)
        rec.wait_requests(1)
        # the delivery thread waits on the receiver; nothing else does:
        # ls and echo > tasks/new answer, tasks run and end, twice over
        for n in (2, 3):
            r = run(['ls', self.m.mnt], timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = sh('echo "echo meanwhile %d" > %s/tasks/new' % (n, self.m.mnt), timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertDone(n)
            self.assertIn('meanwhile %d' % n, self.m.read('tasks/%d/log' % n))
            self.assertTrue(self.m.events_of('finished', n))
        self.assertFalse(rec.release.is_set())
        self.assertEqual(len(rec.requests), 1)
        # unmounting abandons the hung delivery; the next mount sends it
        self.m.unmount()
        self.assertEqual(len(self.outbox()), 3)

    def test_receiver_that_never_answers_times_out(self):
        rec = self.receiver(hang=True)
        self.sink('hook', events='finished', url=rec.url(), timeout=1, retries=1)
        self.m.start()
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        failed = wait_for(self.failed_events, msg='notify_failed')
        self.assertEqual(failed[0]['reason'], 'timed out after 1 s')
        self.assertEqual(failed[0]['attempts'], 2)
        self.assertEqual(len(rec.requests), 2)

    def test_kill9_with_deliveries_pending_delivers_once_after_remount(self):
        port = free_port()
        url = 'http://127.0.0.1:%d/%s' % (port, SECRET_PATH)
        self.sink('hook', events='finished failed', url=url, retries=20)
        self.m.start()
        ids = [self.m.submit('true\n'), self.m.submit('exit 1\n')]
        for tid in ids:
            self.m.wait_final(tid)
        # both tried at least once against a receiver that is down
        wait_for(lambda: len(self.outbox()) == 2 and
                 all(a >= 1 for _, _, a in self.outbox()), msg='failed attempts')
        self.m.kill9()
        rec = self.receiver(port=port)
        self.m.remount()
        got = rec.wait_requests(2)
        wait_for(lambda: self.outbox() == [], msg='the outbox to empty')
        self.m.unmount()
        got = rec.bodies()
        self.assertEqual(sorted((b['task'], b['event']) for b in got),
                         [(ids[0], 'finished'), (ids[1], 'failed')])
        self.assertEqual(len({b['id'] for b in got}), 2)
        # a second remount has nothing left to send
        self.m.remount()
        self.assertEqual(self.outbox(), [])
        self.m.unmount()
        self.assertEqual(len(rec.requests), 2)

    def test_secrets_never_show(self):
        rec = self.receiver(statuses=[500] * 10)
        self.sink('hook', events='*', url=rec.url(), retries=1,
                  header=['Authorization: Bearer ' + SECRET_HEADER, 'X-Other: 1'])
        self.m.start()
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        wait_for(lambda: [f for f in self.failed_events() if f.get('for') == 'finished'],
                 msg='notify_failed for the finished event')
        self.assertTrue(rec.requests)
        self.assertEqual(rec.requests[0]['headers'].get('Authorization'),
                         'Bearer ' + SECRET_HEADER)
        seen = []
        for top in (self.m.mnt, self.state_dir()):
            for d, dirs, files in os.walk(top):
                if top == self.m.mnt:
                    dirs[:] = [x for x in dirs if x != 'worktree']
                for name in files:
                    path = os.path.join(d, name)
                    if name == 'new' or os.path.islink(path):
                        continue
                    if stat.S_ISSOCK(os.lstat(path).st_mode):
                        continue    # policy.sock: nothing to read
                    with open(path, 'rb') as f:
                        seen.append((path, f.read()))
        self.m.unmount()
        seen.append(('daemon stderr', self.m.stderr_text().encode()))
        self.assertTrue(any(p.endswith('events') for p, _ in seen))
        for path, data in seen:
            for secret in (SECRET_PATH, SECRET_HEADER):
                self.assertNotIn(secret.encode(), data, '%s shows %s' % (path, secret))


class TestNeedsInput(NotifyCase):

    def test_permission_denials_are_needs_input(self):
        rec = self.receiver()
        script = os.path.join(self.tmp, 'claude.json')
        with open(script, 'w') as f:
            json.dump(CLAUDE_DENIED, f)
        state = self.state_dir()
        git(self.m.repo, 'config', 'engine.fakeclaude.command',
            '%s stream --format claude --raw %s/logs/{task_id}.jsonl '
            '--result %s/results/{task_id}.json -- %s %s %s {prompt}'
            % (paitest.PAI_BIN, state, state, sys.executable, FAKE_CLI, script))
        # a command of its own writes into the state directory
        git(self.m.repo, 'config', 'engine.fakeclaude.sandbox', 'none')
        self.sink('hook', events='needs_input', url=rec.url())
        self.m.start()
        tid = self.m.submit(json.dumps({'prompt': 'write hello', 'engine': 'fakeclaude'}))
        self.assertEqual(self.m.wait_final(tid), 'failed')
        ev = self.m.events_of('needs_input', tid)
        self.assertEqual(len(ev), 1, self.m.events())
        self.assertEqual(ev[0]['asked'], 'Write hello.txt, Bash rm -rf build')
        got = rec.wait_requests(1)
        self.assertEqual((got[0]['event'], got[0]['task'], got[0]['kind'], got[0]['asked']),
                         ('needs_input', tid, 'permission', 'Write hello.txt, Bash rm -rf build'))

    def test_plan_waiting_for_approve_is_needs_input(self):
        rec = self.receiver()
        answer = os.path.join(self.tmp, 'answer.txt')
        with open(answer, 'w') as f:
            json.dump({'tasks': [{'name': 'one', 'prompt': 'true'}]}, f)
        git(self.m.repo, 'config', 'engine.fp.command', "sh -c 'cat %s'" % answer)
        git(self.m.repo, 'config', 'parallelai.planner', 'fp')
        self.sink('hook', events='needs_input', url=rec.url(), format='slack')
        self.m.start()
        with open(self.m.path('plans/new'), 'w') as f:
            f.write(json.dumps({'request': 'one task', 'approve': True}))
        got = rec.wait_requests(1)
        pid = self.m.events_of('needs_input')[0]['plan']
        self.assertEqual(self.m.read('plans/%d/status' % pid).split('\n')[0], 'waiting')
        self.assertIn('plan %d needs input (asks: approve plan %d)' % (pid, pid),
                      got[0]['text'])


class TestCommand(NotifyCase):

    def test_command_gets_the_event_on_stdin_and_in_env(self):
        out = os.path.join(self.tmp, 'out')
        os.makedirs(out)
        script = os.path.join(self.tmp, 'notify.sh')
        with open(script, 'w') as f:
            f.write('cat > "%s/$PAI_EVENT_ID.json"\n'
                    'env | grep "^PAI_" | sort > "%s/$PAI_EVENT_ID.env"\n' % (out, out))
        self.sink('desk', events='finished', command='sh ' + script)
        self.m.start()
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        envs = wait_for(lambda: [n for n in os.listdir(out) if n.endswith('.env')
                                 and os.path.getsize(os.path.join(out, n))],
                        msg='the command to run')
        wait_for(lambda: self.outbox() == [], msg='the outbox to empty')
        self.assertEqual(len(envs), 1)
        eid = envs[0][:-len('.env')]
        with open(os.path.join(out, eid + '.json')) as f:
            ev = json.load(f)
        self.assertEqual((ev['event'], ev['task'], ev['state'], ev['id']),
                         ('finished', tid, 'done', eid))
        with open(os.path.join(out, eid + '.env')) as f:
            env = dict(line.rstrip('\n').split('=', 1) for line in f if '=' in line)
        self.assertEqual(env['PAI_EVENT'], 'finished')
        self.assertEqual(env['PAI_TASK_ID'], str(tid))
        self.assertEqual(env['PAI_TASK_STATE'], 'done')
        self.assertEqual(env['PAI_EVENT_ID'], eid)
        self.assertEqual(env['PAI_NOTIFY'], 'desk')

    def test_failing_command_is_retried_then_notify_failed(self):
        count = os.path.join(self.tmp, 'count')
        self.sink('desk', events='finished', command='echo x >> %s; exit 2' % count,
                  retries=2)
        self.m.start()
        tid = self.m.submit('true\n')
        self.assertDone(tid)
        failed = wait_for(self.failed_events, msg='notify_failed')
        self.assertEqual((failed[0]['notify'], failed[0]['reason'], failed[0]['attempts']),
                         ('desk', 'exited with status 2', 3))
        with open(count) as f:
            self.assertEqual(f.read(), 'x\nx\nx\n')


class TestConfig(NotifyCase):

    def mount_fails(self):
        r = run(self.m.argv(), timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.ismount(self.m.mnt))
        return r.stderr

    def test_unknown_event_refuses_the_mount(self):
        self.sink('hook', events='finished finishd', url='http://127.0.0.1:1/' + SECRET_PATH)
        err = self.mount_fails()
        self.assertIn("config notify.hook.events: unknown event 'finishd'", err)
        self.assertNotIn(SECRET_PATH, err)

    def test_url_and_command_both_refused(self):
        self.sink('hook', events='*', url='http://127.0.0.1:1/' + SECRET_PATH,
                  command='true')
        err = self.mount_fails()
        self.assertIn('config notify.hook: needs a command or a url (one of them)', err)
        self.assertNotIn(SECRET_PATH, err)

    def test_bad_url_is_refused_without_quoting_it(self):
        self.sink('hook', events='*', url='ftp://' + SECRET_PATH)
        err = self.mount_fails()
        self.assertIn('config notify.hook.url: not an http:// or https:// URL', err)
        self.assertNotIn(SECRET_PATH, err)


if __name__ == '__main__':
    paitest.main()
