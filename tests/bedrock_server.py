#!/usr/bin/python3
"""A loopback Amazon Bedrock for tests: checks each request's AWS Signature
Version 4 as AWS computes it, and answers InvokeModelWithResponseStream in
AWS's binary event stream, carrying the Anthropic streaming events that
tests/llm_server.py scripts.

    POST /model/MODEL_ID/invoke-with-response-stream

The signature is checked here, in this file's own code (hashlib, hmac):
the canonical request from the path as sent with each segment encoded
once more (a model id's "%3A" is signed as "%253A"), the sorted query,
the signed headers trimmed, the body's SHA-256; the string to sign; the
HMAC chain from "AWS4" + secret through date, region, "bedrock" and
"aws4_request". At import the signer reproduces AWS's published
get-vanilla vector, or refuses to run.

The script is llm_server's ({"turns": [...]}) and a turn may also say:
    "exception": "throttlingException", "message": "..."
                        an exception event in the stream after message_start
    "error": {"status": 403, "type": "AccessDeniedException", "message": "..."}
                        an HTTP error, its type in x-amzn-ErrorType
    "corrupt": true     the second message's checksum off by one
Every answer packs several messages into one write and cuts others across
two writes, so the client sees both.

    srv = BedrockServer(script, keys={'AKID': ('SECRET', 'TOKEN' or None)},
                        region='eu-west-3').start()
    srv.requests    # each with 'verified', 'creq', 'path', 'headers', 'body'

Python 3 standard library only.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llm_server import anthropic_events  # noqa: E402

INVALID_SIGNATURE = ('The request signature we calculated does not match the signature '
                     'you provided. Check your AWS Secret Access Key and signing method. '
                     'Consult the service documentation for details.')
UNKNOWN_KEY = 'The security token included in the request is invalid.'

# ---- SigV4, as AWS checks it ------------------------------------------------


def uri_encode(s, keep_slash):
    return urllib.parse.quote(s, safe='-_.~' + ('/' if keep_slash else ''))


def canonical_request(method, raw_path, headers, signed, body):
    """headers: lowercased name -> value as received."""
    path, _, query = raw_path.partition('?')
    # every service but S3: the path as sent, each segment encoded again
    curi = uri_encode(path, True)
    pairs = []
    for part in query.split('&') if query else []:
        k, _, v = part.partition('=')
        pairs.append((uri_encode(k, False), uri_encode(v, False)))
    cquery = '&'.join('%s=%s' % kv for kv in sorted(pairs))
    chead = ''.join('%s:%s\n' % (h, ' '.join(headers.get(h, '').split()))
                    for h in signed)
    return '\n'.join([method, curi, cquery, chead, ';'.join(signed),
                      hashlib.sha256(body).hexdigest()])


def signature(secret, amz_date, region, service, creq):
    scope = '%s/%s/%s/aws4_request' % (amz_date[:8], region, service)
    sts = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = ('AWS4' + secret).encode()
    for part in (amz_date[:8], region, service, 'aws4_request'):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


def _self_check():
    # AWS's test suite, get-vanilla: published signature
    creq = canonical_request('GET', '/', {'host': 'example.amazonaws.com',
                                          'x-amz-date': '20150830T123600Z'},
                             ['host', 'x-amz-date'], b'')
    got = signature('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20150830T123600Z',
                    'us-east-1', 'service', creq)
    if got != '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31':
        raise SystemExit('bedrock_server: the signer does not reproduce get-vanilla')


_self_check()

AUTH_RE = re.compile(r'AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, '
                     r'SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$')

# ---- the event stream ---------------------------------------------------------


def frame(headers, payload):
    hb = b''
    for name, value in headers:
        v = value.encode()
        hb += bytes([len(name)]) + name.encode() + b'\x07' + struct.pack('>H', len(v)) + v
    total = 16 + len(hb) + len(payload)
    prelude = struct.pack('>II', total, len(hb))
    prelude += struct.pack('>I', binascii.crc32(prelude))
    msg = prelude + hb + payload
    return msg + struct.pack('>I', binascii.crc32(msg))


def chunk(data):
    payload = json.dumps({'bytes': base64.b64encode(data.encode()).decode(),
                          'p': 'abcdefghij'}).encode()
    return frame([(':event-type', 'chunk'), (':content-type', 'application/json'),
                  (':message-type', 'event')], payload)


def exception(name, message):
    return frame([(':exception-type', name), (':content-type', 'application/json'),
                  (':message-type', 'exception')],
                 json.dumps({'message': message}).encode())


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'
    server_version = 'pai-bedrock-test/1'

    def log_message(self, fmt, *args):
        pass

    def send_error_json(self, status, typ, message):
        data = json.dumps({'message': message}).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('x-amzn-ErrorType', typ + ':http://internal.amazon.com/coral/com.amazon.bedrock/')
        self.end_headers()
        self.wfile.write(data)

    def verify(self, rec, raw):
        """None when the signature is AWS's, else (status, type, message)."""
        srv = self.server
        m = AUTH_RE.match(self.headers.get('authorization') or '')
        if not m:
            return 403, 'MissingAuthenticationTokenException', 'Missing Authentication Token'
        akid, date, region, service, signed, sig = m.groups()
        signed = signed.split(';')
        if akid not in srv.keys:
            return 403, 'UnrecognizedClientException', UNKNOWN_KEY
        secret, token = srv.keys[akid]
        amz_date = self.headers.get('x-amz-date') or ''
        if region != srv.region or service != 'bedrock' or amz_date[:8] != date:
            return 403, 'InvalidSignatureException', 'Credential should be scoped to a valid region.'
        if 'host' not in signed or 'x-amz-date' not in signed or signed != sorted(signed):
            return 403, 'InvalidSignatureException', INVALID_SIGNATURE
        if token is not None and (self.headers.get('x-amz-security-token') != token or
                                  'x-amz-security-token' not in signed):
            return 403, 'UnrecognizedClientException', UNKNOWN_KEY
        headers = {k.lower(): v for k, v in self.headers.items()}
        creq = canonical_request('POST', self.path, headers, signed, raw)
        rec['creq'] = creq
        if not hmac.compare_digest(signature(secret, amz_date, region, service, creq), sig):
            return 403, 'InvalidSignatureException', INVALID_SIGNATURE
        return None

    def do_POST(self):
        srv = self.server
        raw = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with srv.lock:
            n = len(srv.requests)
            rec = {'n': n, 'path': self.path, 'body': body, 'verified': False,
                   'headers': {k.lower(): v for k, v in self.headers.items()}}
            srv.requests.append(rec)
        bad = self.verify(rec, raw)
        if bad:
            self.send_error_json(*bad)
            return
        rec['verified'] = True
        m = re.match(r'^/model/([^/]+)/invoke-with-response-stream$', self.path)
        if not m:
            self.send_error_json(404, 'UnknownOperationException', 'no route %s' % self.path)
            return
        model = urllib.parse.unquote(m.group(1))
        if not isinstance(body, dict) or body.get('anthropic_version') != 'bedrock-2023-05-31' \
                or 'model' in body or 'stream' in body:
            self.send_error_json(400, 'ValidationException',
                                 'Malformed input request: extraneous key or no anthropic_version')
            return
        turns = srv.script.get('turns') or [{'text': 'ok'}]
        turn = turns[min(n, len(turns) - 1)]
        if 'error' in turn:
            e = turn['error']
            self.send_error_json(e.get('status', 400), e['type'], e.get('message', ''))
            return
        msgs = [chunk(data) for _, data in anthropic_events(turn, model, n)]
        if turn.get('exception'):
            msgs = msgs[:1] + [exception(turn['exception'], turn.get('message', ''))]
        if turn.get('corrupt') and len(msgs) > 1:
            b = bytearray(msgs[1])
            b[-1] ^= 1
            msgs[1] = bytes(b)
        self.send_response(200)
        self.send_header('Content-Type', 'application/vnd.amazon.eventstream')
        self.send_header('x-amzn-bedrock-content-type', 'application/json')
        self.end_headers()
        self.stream(msgs)

    def stream(self, msgs):
        """Three messages to a write, then one cut in two."""
        i = 0
        try:
            while i < len(msgs):
                self.wfile.write(b''.join(msgs[i:i + 3]))
                i += 3
                if i < len(msgs):
                    cut = len(msgs[i]) // 2
                    self.wfile.write(msgs[i][:cut])
                    self.wfile.flush()
                    time.sleep(0.005)   # a separate read, not a timed check
                    self.wfile.write(msgs[i][cut:])
                    i += 1
        except (BrokenPipeError, ConnectionResetError):
            pass


class BedrockServer:
    """The server on 127.0.0.1, an ephemeral port, in a thread."""

    def __init__(self, script, keys, region):
        if isinstance(script, list):
            script = {'turns': script}
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.script = script
        self.httpd.keys = keys
        self.httpd.region = region
        self.httpd.requests = []
        self.httpd.lock = threading.Lock()
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
