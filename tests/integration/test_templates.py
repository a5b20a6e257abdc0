#!/usr/bin/python3
"""Task templates: specs with variables kept in the repository
(.parallelai/templates/), the user's config and shipped with parallelai;
used from tasks/new, listed in templates/, refused with reasons."""

import errno
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paitest  # noqa: E402
from paitest import PaiTestCase, git  # noqa: E402

GREET = {'description': 'greet someone',
         'vars': {'name': {'description': 'who', 'required': True},
                  'greeting': {'description': 'how', 'default': 'hello'}},
         'prompt': 'echo {greeting} {name} > greet.txt', 'engine': 'sh',
         'paths': ['greet.txt'], 'labels': ['{greeting}']}


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


class TemplateCase(PaiTestCase):

    def prepare_repo(self, repo):
        self.user = os.path.join(self.tmp, 'config')
        old = os.environ.get('XDG_CONFIG_HOME')
        os.environ['XDG_CONFIG_HOME'] = self.user

        def restore():
            if old is None:
                os.environ.pop('XDG_CONFIG_HOME', None)
            else:
                os.environ['XDG_CONFIG_HOME'] = old
        self.addCleanup(restore)
        t = os.path.join(repo, '.parallelai', 'templates')
        write_json(os.path.join(t, 'greet.json'), GREET)
        # the repository's review wins over the user's and the shipped one
        write_json(os.path.join(t, 'review.json'),
                   {'description': 'the repository\'s', 'prompt': 'echo repo > who.txt'})
        write_json(os.path.join(t, 'broken.json'), '{"prompt": ')
        u = os.path.join(self.user, 'parallelai', 'templates')
        write_json(os.path.join(u, 'review.json'),
                   {'description': 'the user\'s', 'prompt': 'echo user > who.txt'})
        write_json(os.path.join(u, 'docs.json'),
                   {'description': 'the user\'s docs', 'prompt': 'echo user > who.txt'})
        git(repo, 'add', '-A')
        git(repo, 'commit', '-q', '-m', 'templates')

    def use(self, **spec):
        return self.m.submit(json.dumps(spec))

    def out(self, tid, name):
        return git(self.m.repo, 'show', 'pai/task-%d:%s' % (tid, name))


class TestUse(TemplateCase):

    def test_variables_filled_and_defaults(self):
        t = self.use(template='greet', vars={'name': 'bob'})
        self.assertDone(t)
        self.assertEqual(self.out(t, 'greet.txt'), 'hello bob\n')
        st = self.m.status(t)
        self.assertEqual(st['labels'], 'hello')
        self.assertEqual(st['paths'], 'greet.txt')

    def test_other_fields_override_the_templates(self):
        t = self.use(template='greet', vars={'name': 'ann', 'greeting': 'hi'},
                     priority=5, labels=['mine'])
        self.assertDone(t)
        self.assertEqual(self.out(t, 'greet.txt'), 'hi ann\n')
        st = self.m.status(t)
        self.assertEqual(st['labels'], 'mine')
        self.assertEqual(st['priority'], '5')

    def test_precedence_repository_user_shipped(self):
        t = self.use(template='review', engine='sh')
        self.assertDone(t)
        self.assertEqual(self.out(t, 'who.txt'), 'repo\n')
        t = self.use(template='docs', engine='sh')
        self.assertDone(t)
        self.assertEqual(self.out(t, 'who.txt'), 'user\n')

    def test_shipped_templates_make_the_tasks_they_say(self):
        self.assertEqual(self.m.ctl('ctl', 'pause\n'), 0)
        # src/*.c is src/hello.c alone: one task, and the reduce step
        # (review and docs are the repository's and the user's here:
        # test_shipped_review_runs_with_sh has the shipped review)
        cases = [('tests', 2, False), ('types', 2, False), ('security-review', 3, True)]
        for name, n, reduce_ in cases:
            before = set(self.m.task_ids())
            self.m.write_new(json.dumps({'template': name, 'vars': {'files': 'src/*.c'}}))
            ids = sorted(set(self.m.task_ids()) - before)
            self.assertEqual(len(ids), n - 1, (name, ids))
            maps = ids[:-1] if reduce_ else ids
            self.assertEqual(len(maps), 1, (name, ids))
            self.assertIn('src/hello.c', self.m.read('tasks/%d/prompt' % maps[0]))
            if reduce_:
                self.assertEqual(self.m.read('tasks/%d/depends' % ids[-1]).split(), [str(maps[0])])
        # tests: its check and paths
        before = set(self.m.task_ids())
        self.m.write_new(json.dumps({'template': 'tests', 'vars': {'files': 'src/*.c', 'check': 'true'}}))
        t = sorted(set(self.m.task_ids()) - before)[0]
        self.assertEqual(self.m.status(t)['paths'], 'tests/src/hello.c')
        self.assertEqual(self.m.status(t)['check_command'], 'true')

    def test_shipped_review_runs_with_sh(self):
        # a shipped template, its prompt overridden to run with sh
        before = set(self.m.task_ids())
        git(self.m.repo, 'rm', '-q', '.parallelai/templates/review.json')
        git(self.m.repo, 'commit', '-q', '-m', 'no review of our own')
        os.remove(os.path.join(self.user, 'parallelai', 'templates', 'review.json'))
        self.m.write_new(json.dumps({
            'template': 'review', 'vars': {'files': '*.md', 'report': 'R.md'}, 'engine': 'sh',
            'prompt': 'mkdir -p review && echo ok > review/{file}.md',
            'then': {'prompt': 'cat review/*.md > R.md', 'paths': ['R.md'], 'engine': 'sh'}}))
        ids = sorted(set(self.m.task_ids()) - before)
        self.assertEqual(len(ids), 2)
        for t in ids:
            self.assertDone(t)
        self.assertEqual(self.m.status(ids[0])['paths'], 'review/README.md.md')


class TestErrors(TemplateCase):

    def test_unknown_template(self):
        self.assertRefused(json.dumps({'template': 'nope'}), "unknown template 'nope'")
        self.assertRefused(json.dumps({'template': '../x'}), "invalid template name '../x'")
        self.assertRefused(json.dumps({'template': 3}), "'template' must be a name")

    def test_missing_required_variable(self):
        self.assertRefused(json.dumps({'template': 'greet'}),
                           "template 'greet': missing variable 'name'")

    def test_unknown_variable(self):
        self.assertRefused(json.dumps({'template': 'greet', 'vars': {'name': 'a', 'nmae': 'b'}}),
                           "template 'greet': unknown variable 'nmae'")

    def test_variable_not_a_string(self):
        self.assertRefused(json.dumps({'template': 'greet', 'vars': {'name': 5}}),
                           "variable 'name' must be a string")

    def test_variable_that_breaks_a_field(self):
        self.assertRefused(json.dumps({'template': 'tests', 'vars': {'files': 'src//x'}}),
                           'template:', "'each' has an empty segment")

    def test_template_that_does_not_parse(self):
        self.assertRefused(json.dumps({'template': 'broken'}), "template 'broken'", 'not a JSON object')


class TestListing(TemplateCase):

    def test_templates_dir_lists_every_one(self):
        names = sorted(os.listdir(self.m.path('templates')))
        for n in ('greet', 'review', 'docs', 'tests', 'types', 'security-review', 'broken',
                  'README'):
            self.assertIn(n, names)
        self.assertIn('greet.status', names)
        self.assertEqual(json.loads(self.m.read('templates/greet')), GREET)
        st = paitest.parse_kv(self.m.read('templates/review.status'))
        self.assertEqual(st['origin'], 'repository')
        self.assertEqual(st['description'], "the repository's")
        self.assertEqual(paitest.parse_kv(self.m.read('templates/docs.status'))['origin'], 'user')
        self.assertEqual(paitest.parse_kv(self.m.read('templates/types.status'))['origin'],
                         'shipped')
        self.assertIn('not a JSON object', self.m.read('templates/broken.status'))
        self.assertIn('vars', self.m.read('templates/README'))
        with self.assertRaises(OSError) as cm:
            open(self.m.path('templates/greet'), 'w')
        self.assertIn(cm.exception.errno, (errno.EACCES, errno.EROFS, errno.EPERM))
        with self.assertRaises(FileNotFoundError):
            self.m.read('templates/nope')


if __name__ == '__main__':
    paitest.main()
