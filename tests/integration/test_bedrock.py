#!/usr/bin/python3
"""Amazon Bedrock: the built-in agent's `bedrock` engine against a loopback
Bedrock (tests/bedrock_server.py) that checks every request's SigV4
signature as AWS computes it and answers in AWS's binary event stream; and
the claude preset with provider = bedrock or vertex, as a stand-in that
records its environment.

The AWS credentials are the test's own (environment, or a profile file);
the secret key and the session token must appear nowhere: not in the
mount, the repository, the state directory, the daemon's output, nor what
the model is sent.
"""

import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import paitest  # noqa: E402
from paitest import PaiTestCase, git  # noqa: E402
from bedrock_server import BedrockServer  # noqa: E402
from test_presets import PRESETS, STAND_IN  # noqa: E402

AKID = 'AKIDPAITEST0123'
SECRET = 'pai/Test+Secret0123456789never-written'
TOKEN = 'pai-session-token-0123456789-never-written'
PROFILE_AKID = 'AKIDPAIPROFILE9'
PROFILE_SECRET = 'pai/Profile+Secret0123456789never-written'
REGION = 'eu-west-3'
MODEL = 'anthropic.claude-test-20250101-v1:0'
SENT_PATH = '/model/anthropic.claude-test-20250101-v1%3A0/invoke-with-response-stream'
SIGNED_PATH = '/model/anthropic.claude-test-20250101-v1%253A0/invoke-with-response-stream'

ANTHROPIC_KEY = 'sk-ant-pai-test-not-for-the-cloud'
GEMINI_KEY = 'gemini-pai-test-not-for-the-cloud'

WRITE_THEN_DONE = [
    {'text': "I'll write hello.txt now.",
     'tool_calls': [{'name': 'write_file',
                     'input': {'path': 'hello.txt', 'content': 'hi from bedrock\n'}}],
     'usage': {'input': 1000, 'output': 100}},
    {'text': 'Done: hello.txt holds a greeting.', 'usage': {'input': 1200, 'output': 50}},
]
AWS_VARS = ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
            'AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_CONFIG_FILE',
            'AWS_SHARED_CREDENTIALS_FILE')


class BedrockTestCase(PaiTestCase):
    autostart = False

    def setUp(self):
        super().setUp()
        env = {k: v for k, v in os.environ.items() if k not in AWS_VARS}
        env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET,
                   AWS_SESSION_TOKEN=TOKEN, HOME=os.path.join(self.tmp, 'home'))
        os.makedirs(env['HOME'])
        self.env = env
        self.m.start(env=env)

    def prepare_repo(self, repo):
        self.srv = BedrockServer({'turns': [{'text': 'nothing scripted'}]},
                                 {AKID: (SECRET, TOKEN), PROFILE_AKID: (PROFILE_SECRET, None)},
                                 REGION).start()
        self.addCleanup(self.srv.stop)
        # no AWS_REGION: the region comes from the config's fallback
        git(repo, 'config', 'bedrock.region', REGION)
        git(repo, 'config', 'engine.bedrock.baseUrl', self.srv.url)
        git(repo, 'config', 'engine.bedrock.model', MODEL)
        git(repo, 'config', 'engine.bedrock.args', '--max-retries 2')
        # a second engine of the same protocol, with other credentials
        git(repo, 'config', 'engine.bedrock-bad.protocol', 'bedrock')
        git(repo, 'config', 'engine.bedrock-bad.baseUrl', self.srv.url)
        git(repo, 'config', 'engine.bedrock-bad.model', MODEL)
        git(repo, 'config', 'engine.bedrock-bad.env', 'AWS_SECRET_ACCESS_KEY=not-the-secret-key')
        git(repo, 'config', 'price.%s.input' % MODEL, '3')
        git(repo, 'config', 'price.%s.output' % MODEL, '15')

    def script(self, turns):
        self.srv.httpd.script = {'turns': turns}
        with self.srv.httpd.lock:
            self.srv.httpd.requests.clear()

    def run_task(self, engine='bedrock', prompt='write hello.txt'):
        return self.m.submit(json.dumps({'prompt': prompt, 'engine': engine}))

    def log(self, tid):
        return self.m.read('tasks/%d/log' % tid)

    def assertFailedWith(self, tid, line):
        state = self.m.wait_final(tid, 90)
        self.assertEqual(state, 'failed', self.log(tid))
        self.assertIn('error: ' + line, self.log(tid))
        self.assertIn(line, self.m.status(tid).get('reason', ''), self.m.status(tid))


class TestBedrockAgent(BedrockTestCase):

    def test_a_task_completes_through_signed_requests_and_commits(self):
        self.script(WRITE_THEN_DONE)
        tid = self.run_task()
        self.assertDone(tid)
        log = self.log(tid)
        self.assertIn("I'll write hello.txt now.", log)
        self.assertIn('» write_file hello.txt\n', log)
        self.assertIn('AWS credentials from the environment, region %s' % REGION, log)
        self.assertEqual(git(self.m.repo, 'show', 'pai/task-%d:hello.txt' % tid),
                         'hi from bedrock\n')
        reqs = self.srv.requests
        self.assertEqual(len(reqs), 2)
        for r in reqs:
            # every request signed as AWS computes it, the id's ':' sent
            # once encoded and signed twice
            self.assertTrue(r['verified'], r.get('creq'))
            self.assertEqual(r['path'], SENT_PATH)
            self.assertEqual(r['creq'].split('\n')[1], SIGNED_PATH)
            self.assertEqual(r['headers']['x-amz-security-token'], TOKEN)
            self.assertIn('Credential=%s/' % AKID, r['headers']['authorization'])
            self.assertIn('/%s/bedrock/aws4_request' % REGION, r['headers']['authorization'])
            self.assertEqual(r['body']['anthropic_version'], 'bedrock-2023-05-31')
            self.assertNotIn('model', r['body'])
            self.assertNotIn('stream', r['body'])
        self.assertEqual(reqs[1]['body']['messages'][2]['content'][0]['content'],
                         'wrote 16 bytes to hello.txt')
        # tokens from Bedrock's usage, cost from [price "MODEL_ID"]
        st = self.m.status(tid)
        self.assertEqual(st['provider'], 'bedrock')
        self.assertEqual((st['input_tokens'], st['output_tokens']), ('2200', '150'))
        self.assertEqual(st['cost_usd'], '0.0089')

    def test_throttling_is_retried(self):
        self.script([{'exception': 'throttlingException',
                      'message': 'Too many requests, please wait before trying again.'}]
                     + WRITE_THEN_DONE)
        tid = self.run_task()
        self.assertDone(tid)
        self.assertIn('! bedrock: ThrottlingException: Too many requests, please wait '
                      'before trying again.; retrying in', self.log(tid))
        self.assertEqual(len(self.srv.requests), 3)

    def test_throttling_without_end_fails_the_task(self):
        self.script([{'error': {'status': 429, 'type': 'ThrottlingException',
                                'message': 'Too many tokens, please wait before trying again.'}}])
        tid = self.run_task()
        self.assertFailedWith(tid, 'bedrock: ThrottlingException: Too many tokens, please '
                              'wait before trying again.')
        self.assertEqual(len(self.srv.requests), 3)   # --max-retries 2

    def test_exceptions_fail_the_task_in_one_line(self):
        cases = [
            ({'error': {'status': 403, 'type': 'AccessDeniedException',
                        'message': "You don't have access to the model with the "
                                   "specified model ID."}},
             "bedrock: AccessDeniedException: You don't have access to the model with "
             "the specified model ID."),
            ({'error': {'status': 429, 'type': 'ModelNotReadyException',
                        'message': 'Model is not ready'}},
             'bedrock: ModelNotReadyException: Model is not ready'),
            ({'exception': 'validationException',
              'message': 'messages: text content blocks must be non-empty'},
             'bedrock: ValidationException: messages: text content blocks must be non-empty'),
        ]
        for turn, line in cases:
            with self.subTest(line=line):
                self.script([turn])
                tid = self.run_task()
                self.assertFailedWith(tid, line)
                self.assertEqual(len(self.srv.requests), 1)

    def test_wrong_credentials_fail_with_a_clear_reason(self):
        self.script(WRITE_THEN_DONE)
        tid = self.run_task('bedrock-bad')
        self.assertFailedWith(tid, 'bedrock: InvalidSignatureException: The request '
                              'signature we calculated does not match the signature you '
                              'provided.')
        self.assertFalse(self.srv.requests[0]['verified'])
        self.assertEqual(self.m.status(tid)['provider'], 'bedrock')

    def test_a_corrupt_checksum_fails_cleanly(self):
        self.script([{'text': 'a reply whose second message is damaged', 'corrupt': True}])
        tid = self.run_task()
        self.assertFailedWith(tid, "bedrock: malformed event stream: a message's "
                              "checksum does not match")
        self.assertEqual(len(self.srv.requests), 1)
        # the mount goes on: the next task completes
        self.script(WRITE_THEN_DONE)
        self.assertDone(self.run_task())

    def test_secrets_appear_nowhere(self):
        self.script([{'text': 'Looking.', 'tool_calls': [{'name': 'run',
                                                          'input': {'command': 'env'}}]},
                     {'text': 'Seen it.'}])
        tid = self.run_task(prompt='show me the environment')
        self.assertDone(tid)
        reqs = self.srv.requests
        self.assertTrue(all(r['verified'] for r in reqs))
        result = reqs[1]['body']['messages'][2]['content'][0]['content']
        self.assertIn('PAI_TASK_ID=%d\n' % tid, result)
        # (assertNotIn would print the environment, secret and all)
        for secret in (SECRET, TOKEN):
            self.assertFalse(secret in json.dumps([r['body'] for r in reqs]),
                             'a secret reached the model')
        self.script([{'exception': 'throttlingException', 'message': 'slow down'},
                     {'error': {'status': 403, 'type': 'AccessDeniedException',
                                'message': 'no'}}])
        self.m.wait_final(self.run_task(), 90)
        self.m.wait_final(self.run_task('bedrock-bad'), 90)
        state_dir = self.m.kv('status')['state_dir']
        self.m.unmount()
        seen = []
        for root in (os.path.join(self.m.repo, '.git'), state_dir):
            for d, _, files in os.walk(root):
                for name in files:
                    p = os.path.join(d, name)
                    with open(p, 'rb') as f:
                        data = f.read()
                    seen.append(p)
                    for secret in (SECRET, TOKEN):
                        self.assertFalse(secret.encode() in data, 'a secret in %s' % p)
        self.assertTrue(any(p.endswith('.jsonl') for p in seen), seen)
        self.assertTrue(any(p.endswith('.db') for p in seen), seen)
        for secret in (SECRET, TOKEN):
            self.assertNotIn(secret, self.m.stderr_text())
        self.m.start(env=self.env)


class TestBedrockPlanner(BedrockTestCase):
    """parallelai.planner = bedrock: a request split into tasks by a model
    on Bedrock, like any other planner engine."""

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', 'parallelai.planner', 'bedrock')

    def test_bedrock_plans(self):
        plan = {'tasks': [{'name': 'one', 'prompt': 'echo one > one.txt'},
                          {'name': 'two', 'prompt': 'cat one.txt > two.txt',
                           'depends': ['one']}]}
        self.script([{'text': 'Here is the plan.\n\n```json\n%s\n```\n' % json.dumps(plan)}])
        with open(self.m.path('plans/new'), 'w') as f:
            f.write('write one.txt, then copy it\n')
        paitest.wait_for(lambda: self.m.read('plans/1/status').startswith('created'), 60,
                         msg='the plan to be created')
        st = self.m.kv('plans/1/status')
        self.assertEqual(st.get('engine'), 'bedrock')
        ids = [int(x) for x in self.m.read('plans/1/tasks').split()]
        self.assertEqual(len(ids), 2)
        for tid in ids:
            self.assertDone(tid)
        reqs = self.srv.requests
        self.assertEqual(len(reqs), 1)
        self.assertTrue(reqs[0]['verified'])
        self.assertIn('write one.txt, then copy it', json.dumps(reqs[0]['body']['messages']))


class TestBedrockProfile(BedrockTestCase):
    """No key in the environment: the profile of ~/.aws/credentials, and
    the region of ~/.aws/config."""

    def setUp(self):
        PaiTestCase.setUp(self)
        home = os.path.join(self.tmp, 'home')
        os.makedirs(os.path.join(home, '.aws'))
        with open(os.path.join(home, '.aws', 'credentials'), 'w') as f:
            f.write('[default]\naws_access_key_id = AKIDWRONG\n'
                    'aws_secret_access_key = wrong\n\n'
                    '[work]\naws_access_key_id = %s\naws_secret_access_key = %s\n'
                    % (PROFILE_AKID, PROFILE_SECRET))
        with open(os.path.join(home, '.aws', 'config'), 'w') as f:
            f.write('[default]\nregion = us-east-1\n[profile work]\nregion = %s\n' % REGION)
        env = {k: v for k, v in os.environ.items() if k not in AWS_VARS}
        env.update(HOME=home, AWS_PROFILE='work')
        self.m.start(env=env)

    def prepare_repo(self, repo):
        super().prepare_repo(repo)
        git(repo, 'config', '--unset', 'bedrock.region')

    def test_profile_credentials_and_region(self):
        self.script(WRITE_THEN_DONE)
        tid = self.run_task()
        self.assertDone(tid)
        self.assertIn('AWS credentials from the profile work, region %s' % REGION,
                      self.log(tid))
        reqs = self.srv.requests
        self.assertTrue(all(r['verified'] for r in reqs))
        self.assertNotIn('x-amz-security-token', reqs[0]['headers'])
        self.assertIn('Credential=%s/' % PROFILE_AKID, reqs[0]['headers']['authorization'])


class ProviderCase(PaiTestCase):
    """engine.NAME.provider: the stand-ins record the environment they were
    started with."""
    autostart = False

    def setUp(self):
        super().setUp()
        self.bin = os.path.join(self.tmp, 'bin')
        self.rec = os.path.join(self.tmp, 'rec')
        os.makedirs(self.bin)
        os.makedirs(self.rec)
        for name in ('claude', 'gemini'):
            script = os.path.join(self.tmp, name + '.json')
            with open(script, 'w') as f:
                json.dump(PRESETS[name][1], f)
            prog = os.path.join(self.bin, name)
            with open(prog, 'w') as f:
                f.write(STAND_IN % (sys.executable, HERE, script, self.rec))
            os.chmod(prog, 0o755)
        for name in ('claude', 'gemini'):
            # the stand-ins' records: writable in the sandbox
            git(self.m.repo, 'config', 'engine.%s.bindRw' % name, self.rec)
        env = {k: v for k, v in os.environ.items() if k not in AWS_VARS}
        env.update(PATH=self.bin + ':' + os.environ.get('PATH', '/usr/bin:/bin'),
                   AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET,
                   AWS_SESSION_TOKEN=TOKEN, ANTHROPIC_API_KEY=ANTHROPIC_KEY,
                   GEMINI_API_KEY=GEMINI_KEY,
                   GOOGLE_APPLICATION_CREDENTIALS=os.path.join(self.tmp, 'gcp.json'))
        self.m.start(env=env)

    def started_env(self, name):
        tid = self.m.submit(json.dumps({'prompt': 'add a greeting', 'engine': name}))
        self.assertDone(tid)
        with open(os.path.join(self.rec, '%s-%d.json' % (name, tid))) as f:
            return tid, json.load(f)['env']


class TestClaudeOnBedrock(ProviderCase):

    def prepare_repo(self, repo):
        git(repo, 'config', 'parallelai.engine', 'claude')
        git(repo, 'config', 'engine.claude.provider', 'bedrock')
        git(repo, 'config', 'bedrock.region', REGION)
        git(repo, 'config', 'engine.gemini.provider', 'vertex')
        git(repo, 'config', 'vertex.project', 'pai-test-project')
        git(repo, 'config', 'vertex.region', 'europe-west4')

    def test_claude_on_bedrock(self):
        tid, env = self.started_env('claude')
        self.assertEqual(env.get('CLAUDE_CODE_USE_BEDROCK'), '1')
        self.assertEqual(env.get('AWS_REGION'), REGION)
        self.assertEqual(env.get('AWS_ACCESS_KEY_ID'), AKID)
        self.assertTrue(env.get('AWS_SECRET_ACCESS_KEY') == SECRET)
        self.assertTrue(env.get('AWS_SESSION_TOKEN') == TOKEN)
        self.assertNotIn('CLAUDE_CODE_USE_VERTEX', env)
        # exactly the cloud's credentials: not Anthropic's key, not Google's
        self.assertNotIn('ANTHROPIC_API_KEY', env)
        self.assertNotIn('GOOGLE_APPLICATION_CREDENTIALS', env)
        self.assertEqual(self.m.status(tid)['provider'], 'bedrock')
        self.assertEqual(self.m.kv('status').get('provider'), 'bedrock')

    def test_gemini_on_vertex(self):
        tid, env = self.started_env('gemini')
        self.assertEqual(env.get('GOOGLE_GENAI_USE_VERTEXAI'), 'true')
        self.assertEqual(env.get('GOOGLE_CLOUD_PROJECT'), 'pai-test-project')
        self.assertEqual(env.get('GOOGLE_CLOUD_LOCATION'), 'europe-west4')
        self.assertEqual(env.get('GOOGLE_APPLICATION_CREDENTIALS'),
                         os.path.join(self.tmp, 'gcp.json'))
        self.assertNotIn('GEMINI_API_KEY', env)
        self.assertNotIn('AWS_SECRET_ACCESS_KEY', env)
        self.assertEqual(self.m.status(tid)['provider'], 'vertex')


class TestClaudeOnVertex(ProviderCase):

    def prepare_repo(self, repo):
        git(repo, 'config', 'parallelai.engine', 'claude')
        git(repo, 'config', 'engine.claude.provider', 'vertex')
        git(repo, 'config', 'vertex.project', 'pai-test-project')
        git(repo, 'config', 'vertex.region', 'us-east5')

    def test_claude_on_vertex(self):
        tid, env = self.started_env('claude')
        self.assertEqual(env.get('CLAUDE_CODE_USE_VERTEX'), '1')
        self.assertEqual(env.get('CLOUD_ML_REGION'), 'us-east5')
        self.assertEqual(env.get('ANTHROPIC_VERTEX_PROJECT_ID'), 'pai-test-project')
        self.assertNotIn('CLAUDE_CODE_USE_BEDROCK', env)
        self.assertEqual(env.get('GOOGLE_APPLICATION_CREDENTIALS'),
                         os.path.join(self.tmp, 'gcp.json'))
        self.assertNotIn('ANTHROPIC_API_KEY', env)
        self.assertNotIn('AWS_SECRET_ACCESS_KEY', env)
        self.assertEqual(self.m.status(tid)['provider'], 'vertex')
        # claude is the mount's engine: its status says so too
        self.assertEqual(self.m.kv('status').get('provider'), 'vertex')


if __name__ == '__main__':
    paitest.main()
