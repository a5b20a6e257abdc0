#!/usr/bin/python3
"""A loopback LLM server for tests: plays scripted conversations over the
real wire formats, streaming (SSE) or not.

    POST /v1/messages           Anthropic Messages API
    POST /v1/chat/completions   OpenAI Chat Completions
    POST /v1/responses          OpenAI Responses API (what Codex speaks)
    GET  /requests              the requests received so far, as JSON

The script is a JSON file (or object) of turns; request number i gets turn
i, and requests past the end get the last turn again:

    {"turns": [
      {"text": "I'll write it.",
       "tool_calls": [{"name": "write_file",
                       "input": {"path": "hello.txt", "content": "hi\\n"}}]},
      {"text": "Done: hello.txt holds a greeting."}
    ]}

In the Responses API a tool call is a function_call output item (its
arguments the JSON of "input"), and the tool's result comes back as a
function_call_output input item; a call with "custom": true and a string
"input" is a custom_tool_call instead (Codex's freeform apply_patch):

    {"tool_calls": [{"name": "shell",
                     "input": {"command": ["bash", "-lc", "ls"]}}]}
    {"tool_calls": [{"name": "apply_patch", "custom": true,
                     "input": "*** Begin Patch\n..."}]}

A turn may instead (or as well) say:
    "error": {"status": 401, "message": "invalid x-api-key",
              "type": "authentication_error", "retry_after": 2}
    "malformed": true        an event whose data is not JSON
    "garbage": "TEXT"        TEXT as the whole response body, as is
    "drop": true             close the connection halfway through the stream
    "delay": 0.05            seconds between events (a slow stream)
    "nostream": true         one JSON body, as if "stream" had been false
    "chunk": 4               characters per text delta (default 3)
    "stop": "max_tokens"     the stop reason to report
    "usage": {"input": 100, "output": 20}
Top-level keys: "crlf": true ends SSE lines in CRLF; "require_key": "K"
answers 401 unless the request carries K (x-api-key or Bearer).

Run it alone (it prints its port) or import it:

    $ python3 tests/llm_server.py script.json --record requests.jsonl
    41234

    srv = LLMServer(script); srv.start(); ... srv.requests; srv.stop()

Python 3 standard library only.
"""

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: each response ends by closing the connection, so a stream
    # needs neither a length nor chunked encoding.
    protocol_version = 'HTTP/1.0'
    server_version = 'pai-llm-test/1'

    def log_message(self, fmt, *args):
        pass

    # ---- plumbing ------------------------------------------------------
    def send_json(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == '/requests':
            with self.server.lock:
                reqs = list(self.server.requests)
            self.send_json(200, reqs)
        else:
            self.send_json(404, {'error': {'message': 'not found', 'type': 'not_found'}})

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        srv = self.server
        with srv.lock:
            n = len(srv.requests)
            rec = {'n': n, 'path': self.path,
                   'headers': {k.lower(): v for k, v in self.headers.items()},
                   'body': body}
            srv.requests.append(rec)
            if srv.record:
                with open(srv.record, 'a') as f:
                    f.write(json.dumps(rec) + '\n')
        turns = srv.script.get('turns') or [{'text': 'ok'}]
        turn = turns[min(n, len(turns) - 1)]
        # Route on the path alone: Claude Code posts to /v1/messages?beta=true
        path = self.path.split('?', 1)[0]
        if path.endswith('/v1/messages'):
            proto = 'anthropic'
        elif path.endswith('/v1/chat/completions'):
            proto = 'openai'
        elif path.endswith('/v1/responses'):
            proto = 'responses'
        else:
            self.send_json(404, {'error': {'message': 'no route %s' % self.path,
                                           'type': 'not_found'}})
            return
        if body is None:
            self.send_error_turn(proto, {'status': 400, 'message': 'body is not JSON',
                                         'type': 'invalid_request_error'})
            return
        key = srv.script.get('require_key')
        if key:
            got = self.headers.get('x-api-key') or ''
            auth = self.headers.get('authorization') or ''
            if auth.lower().startswith('bearer '):
                got = got or auth[7:]
            if got != key:
                self.send_error_turn(proto, {'status': 401, 'message': 'invalid api key',
                                             'type': 'authentication_error'})
                return
        if 'error' in turn:
            self.send_error_turn(proto, turn['error'])
            return
        if 'garbage' in turn:
            self.send_response(200)
            self.send_header('Content-Type', 'text/event-stream')
            self.end_headers()
            self.wfile.write(turn['garbage'].encode())
            return
        model = body.get('model', 'test')
        if not body.get('stream') or turn.get('nostream'):
            obj = NONSTREAM[proto](turn, model, n)
            self.send_json(200, obj)
            return
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.send_header('Cache-Control', 'no-cache')
        self.end_headers()
        events = STREAM[proto](turn, model, n)
        eol = '\r\n' if srv.script.get('crlf') else '\n'
        delay = float(turn.get('delay', 0))
        drop_at = len(events) // 2 if turn.get('drop') else None
        try:
            for i, (name, data) in enumerate(events):
                if drop_at is not None and i == drop_at:
                    # a dropped connection: half an event, then a reset
                    self.wfile.write(b'data: {"type":"content_bl')
                    self.wfile.flush()
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b'\x01\x00\x00\x00\x00\x00\x00\x00')
                    self.connection.close()
                    return
                text = ''
                if name:
                    text += 'event: %s%s' % (name, eol)
                text += 'data: %s%s%s' % (data, eol, eol)
                self.wfile.write(text.encode())
                self.wfile.flush()
                if delay:
                    time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_error_turn(self, proto, err):
        status = int(err.get('status', 500))
        msg = err.get('message', 'error')
        etype = err.get('type', 'api_error')
        if proto == 'anthropic':
            obj = {'type': 'error', 'error': {'type': etype, 'message': msg}}
        elif proto == 'responses':
            obj = {'error': {'message': msg, 'type': etype, 'param': None,
                             'code': err.get('code')}}
        else:
            obj = {'error': {'message': msg, 'type': etype, 'code': None}}
        headers = []
        if 'retry_after' in err:
            headers.append(('Retry-After', str(err['retry_after'])))
        self.send_json(status, obj, headers)


# ---- the wire formats ----------------------------------------------------

def pieces(text, size):
    size = max(1, int(size))
    return [text[i:i + size] for i in range(0, len(text), size)]


def usage_of(turn):
    u = turn.get('usage') or {}
    return int(u.get('input', 100)), int(u.get('output', 20))


def call_id(proto, n, i):
    return ('toolu_%02d_%d' if proto == 'anthropic' else 'call_%02d_%d') % (n, i)


def anthropic_events(turn, model, n):
    """(event name, data text) pairs of one Messages API stream."""
    inp, out = usage_of(turn)
    calls = turn.get('tool_calls') or []
    stop = turn.get('stop') or ('tool_use' if calls else 'end_turn')
    ev = []

    def add(obj):
        ev.append((obj['type'], json.dumps(obj)))
    add({'type': 'message_start', 'message': {
        'id': 'msg_%02d' % n, 'type': 'message', 'role': 'assistant', 'model': model,
        'content': [], 'stop_reason': None, 'stop_sequence': None,
        'usage': {'input_tokens': inp, 'output_tokens': 1}}})
    ev.append(('ping', '{"type": "ping"}'))
    index = 0
    if turn.get('text'):
        add({'type': 'content_block_start', 'index': index,
             'content_block': {'type': 'text', 'text': ''}})
        for p in pieces(turn['text'], turn.get('chunk', 3)):
            add({'type': 'content_block_delta', 'index': index,
                 'delta': {'type': 'text_delta', 'text': p}})
        add({'type': 'content_block_stop', 'index': index})
        index += 1
    if turn.get('malformed'):
        ev.append(('content_block_delta', '{"type": "content_block_delta", "index": 0, "delta": {'))
    for i, c in enumerate(calls):
        add({'type': 'content_block_start', 'index': index,
             'content_block': {'type': 'tool_use', 'id': call_id('anthropic', n, i),
                               'name': c['name'], 'input': {}}})
        args = c['raw'] if 'raw' in c else json.dumps(c.get('input', {}))
        for p in pieces(args, 7):
            add({'type': 'content_block_delta', 'index': index,
                 'delta': {'type': 'input_json_delta', 'partial_json': p}})
        add({'type': 'content_block_stop', 'index': index})
        index += 1
    add({'type': 'message_delta', 'delta': {'stop_reason': stop, 'stop_sequence': None},
         'usage': {'output_tokens': out}})
    add({'type': 'message_stop'})
    return ev


def openai_events(turn, model, n):
    """(None, data text) pairs of one Chat Completions stream."""
    inp, out = usage_of(turn)
    calls = turn.get('tool_calls') or []
    stop = turn.get('stop') or ('tool_calls' if calls else 'stop')
    if stop == 'max_tokens':
        stop = 'length'
    base = {'id': 'chatcmpl-%02d' % n, 'object': 'chat.completion.chunk',
            'created': 1700000000, 'model': model}
    ev = []

    def add(delta=None, finish=None, **extra):
        obj = dict(base)
        obj['choices'] = [] if delta is None else [
            {'index': 0, 'delta': delta, 'finish_reason': finish}]
        obj.update(extra)
        ev.append((None, json.dumps(obj)))
    add({'role': 'assistant', 'content': ''})
    for p in pieces(turn.get('text') or '', turn.get('chunk', 3)):
        add({'content': p})
    if turn.get('malformed'):
        ev.append((None, '{"choices": [{"index": 0, "delta": {"content": "x'))
    for i, c in enumerate(calls):
        args = c['raw'] if 'raw' in c else json.dumps(c.get('input', {}))
        add({'tool_calls': [{'index': i, 'id': call_id('openai', n, i), 'type': 'function',
                             'function': {'name': c['name'], 'arguments': ''}}]})
        for p in pieces(args, 7):
            add({'tool_calls': [{'index': i, 'function': {'arguments': p}}]})
    add({}, stop)
    add(None, usage={'prompt_tokens': inp, 'completion_tokens': out,
                     'total_tokens': inp + out})
    ev.append((None, '[DONE]'))
    return ev


def anthropic_message(turn, model, n):
    inp, out = usage_of(turn)
    calls = turn.get('tool_calls') or []
    content = []
    if turn.get('text'):
        content.append({'type': 'text', 'text': turn['text']})
    for i, c in enumerate(calls):
        content.append({'type': 'tool_use', 'id': call_id('anthropic', n, i),
                        'name': c['name'], 'input': c.get('input', {})})
    return {'id': 'msg_%02d' % n, 'type': 'message', 'role': 'assistant', 'model': model,
            'content': content,
            'stop_reason': turn.get('stop') or ('tool_use' if calls else 'end_turn'),
            'usage': {'input_tokens': inp, 'output_tokens': out}}


def openai_completion(turn, model, n):
    inp, out = usage_of(turn)
    calls = turn.get('tool_calls') or []
    msg = {'role': 'assistant', 'content': turn.get('text') or None}
    if calls:
        msg['tool_calls'] = [{'id': call_id('openai', n, i), 'type': 'function',
                              'function': {'name': c['name'],
                                           'arguments': json.dumps(c.get('input', {}))}}
                             for i, c in enumerate(calls)]
    return {'id': 'chatcmpl-%02d' % n, 'object': 'chat.completion', 'model': model,
            'choices': [{'index': 0, 'message': msg,
                         'finish_reason': turn.get('stop') or ('tool_calls' if calls else 'stop')}],
            'usage': {'prompt_tokens': inp, 'completion_tokens': out,
                      'total_tokens': inp + out}}


# The Responses API: a stream of typed events, each output item announced
# (output_item.added), filled in by deltas and closed (output_item.done),
# the whole response repeated in response.completed with its usage.

def responses_usage(turn):
    inp, out = usage_of(turn)
    return {'input_tokens': inp, 'input_tokens_details': {'cached_tokens': 0},
            'output_tokens': out, 'output_tokens_details': {'reasoning_tokens': 0},
            'total_tokens': inp + out}


def responses_items(turn, n):
    """The finished output items of a turn."""
    items = []
    if turn.get('text'):
        items.append({'id': 'msg_%02d' % n, 'type': 'message', 'status': 'completed',
                      'role': 'assistant',
                      'content': [{'type': 'output_text', 'text': turn['text'],
                                   'annotations': []}]})
    for i, c in enumerate(turn.get('tool_calls') or []):
        if c.get('custom'):
            items.append({'id': 'ctc_%02d_%d' % (n, i), 'type': 'custom_tool_call',
                          'status': 'completed', 'call_id': call_id('openai', n, i),
                          'name': c['name'], 'input': c.get('input', '')})
        else:
            args = c['raw'] if 'raw' in c else json.dumps(c.get('input', {}))
            items.append({'id': 'fc_%02d_%d' % (n, i), 'type': 'function_call',
                          'status': 'completed', 'call_id': call_id('openai', n, i),
                          'name': c['name'], 'arguments': args})
    return items


def responses_object(turn, model, n, status, items, usage):
    return {'id': 'resp_%02d' % n, 'object': 'response', 'created_at': 1700000000,
            'status': status, 'error': None, 'incomplete_details': None,
            'model': model, 'output': items, 'parallel_tool_calls': True,
            'tool_choice': 'auto', 'tools': [], 'usage': usage}


def responses_events(turn, model, n):
    """(event name, data text) pairs of one Responses API stream."""
    ev = []

    def add(obj):
        obj['sequence_number'] = len(ev)
        ev.append((obj['type'], json.dumps(obj)))
    add({'type': 'response.created',
         'response': responses_object(turn, model, n, 'in_progress', [], None)})
    add({'type': 'response.in_progress',
         'response': responses_object(turn, model, n, 'in_progress', [], None)})
    items = responses_items(turn, n)
    for index, item in enumerate(items):
        iid = item['id']
        if item['type'] == 'message':
            text = item['content'][0]['text']
            add({'type': 'response.output_item.added', 'output_index': index,
                 'item': dict(item, status='in_progress', content=[])})
            add({'type': 'response.content_part.added', 'item_id': iid,
                 'output_index': index, 'content_index': 0,
                 'part': {'type': 'output_text', 'text': '', 'annotations': []}})
            for p in pieces(text, turn.get('chunk', 3)):
                add({'type': 'response.output_text.delta', 'item_id': iid,
                     'output_index': index, 'content_index': 0, 'delta': p})
            if turn.get('malformed'):
                ev.append(('response.output_text.delta',
                           '{"type": "response.output_text.delta", "delta": "x'))
            add({'type': 'response.output_text.done', 'item_id': iid,
                 'output_index': index, 'content_index': 0, 'text': text})
            add({'type': 'response.content_part.done', 'item_id': iid,
                 'output_index': index, 'content_index': 0,
                 'part': item['content'][0]})
        elif item['type'] == 'function_call':
            add({'type': 'response.output_item.added', 'output_index': index,
                 'item': dict(item, status='in_progress', arguments='')})
            for p in pieces(item['arguments'], 7):
                add({'type': 'response.function_call_arguments.delta', 'item_id': iid,
                     'output_index': index, 'delta': p})
            add({'type': 'response.function_call_arguments.done', 'item_id': iid,
                 'output_index': index, 'name': item['name'],
                 'arguments': item['arguments']})
        else:
            add({'type': 'response.output_item.added', 'output_index': index,
                 'item': dict(item, status='in_progress', input='')})
            for p in pieces(item['input'], 7):
                add({'type': 'response.custom_tool_call_input.delta', 'item_id': iid,
                     'output_index': index, 'delta': p})
            add({'type': 'response.custom_tool_call_input.done', 'item_id': iid,
                 'output_index': index, 'input': item['input']})
        add({'type': 'response.output_item.done', 'output_index': index, 'item': item})
    if turn.get('malformed') and not turn.get('text'):
        ev.append(('response.output_item.done', '{"type": "response.output_item.done", "item": {'))
    final = turn.get('stop')
    if final == 'max_tokens':
        obj = responses_object(turn, model, n, 'incomplete', items, responses_usage(turn))
        obj['incomplete_details'] = {'reason': 'max_output_tokens'}
        add({'type': 'response.incomplete', 'response': obj})
    else:
        add({'type': 'response.completed',
             'response': responses_object(turn, model, n, 'completed', items,
                                          responses_usage(turn))})
    return ev


def responses_response(turn, model, n):
    return responses_object(turn, model, n, 'completed', responses_items(turn, n),
                            responses_usage(turn))


STREAM = {'anthropic': anthropic_events, 'openai': openai_events,
          'responses': responses_events}
NONSTREAM = {'anthropic': anthropic_message, 'openai': openai_completion,
             'responses': responses_response}


class LLMServer:
    """The server on 127.0.0.1, an ephemeral port, in a thread."""

    def __init__(self, script, record=None):
        if isinstance(script, list):
            script = {'turns': script}
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.script = script
        self.httpd.requests = []
        self.httpd.lock = threading.Lock()
        self.httpd.record = record
        self.port = self.httpd.server_address[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self.thread = None

    @property
    def requests(self):
        with self.httpd.lock:
            return list(self.httpd.requests)

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv):
    if len(argv) < 2 or argv[1] in ('-h', '--help'):
        print('usage: llm_server.py SCRIPT.json [--record FILE]', file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        script = json.load(f)
    record = argv[argv.index('--record') + 1] if '--record' in argv else None
    srv = LLMServer(script, record)
    print(srv.port, flush=True)
    try:
        srv.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
