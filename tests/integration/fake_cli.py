#!/usr/bin/python3
"""A stand-in agent CLI: plays an event stream recorded in a test.

    fake_cli.py SCRIPT.json [PROMPT...]

SCRIPT is a JSON object:
    {"lines": [...],        printed one per line: a string as it is, anything
                            else as JSON; "{prompt}" in a string becomes PROMPT
     "write": {"a.txt": "x"},  files written (in the working directory) first,
                            as the agent would
     "stderr": "text",      written to stderr
     "delay": 0.01,         seconds between lines
     "sleep": 0,            seconds to sleep after the lines (to be cancelled)
     "exit": 0,             the exit status
     "pre_tool": [{"tool_name": "Bash", "tool_input": {"command": "..."}}]}
                            tool calls made first, as Claude Code makes them:
                            each PreToolUse hook of the --settings file it
                            was given runs with the call on stdin; a Bash
                            call the hooks allow runs (sh -c); the hooks'
                            answers go to stderr as "hook: DECISION: REASON"

Only what the real CLI would print is emulated; parallelai's own code (the
stream filter, the scheduler) runs for real.

As a program named like the real CLI (claude, codex, ...) found on PATH, a
stand-in first records how it was started, then plays its script:

    #!/usr/bin/python3
    import sys; sys.path.insert(0, DIR); import fake_cli
    sys.exit(fake_cli.stand_in(SCRIPT, RECORD_DIR))

RECORD_DIR/NAME-TASK.json has its argv, environment, working directory,
what its stdin is, and the command line of the process that started it.
"""

import json
import os
import subprocess
import sys
import time


def settings_hooks(args):
    """The PreToolUse hook commands of the --settings file in args."""
    if '--settings' not in args:
        return []
    with open(args[args.index('--settings') + 1]) as f:
        settings = json.load(f)
    out = []
    for m in settings.get('hooks', {}).get('PreToolUse', []):
        out += [h['command'] for h in m.get('hooks', []) if h.get('type') == 'command']
    return out


def pre_tool(args, call):
    """Run the hooks on one call, then the call if they allow it."""
    decision, reason = 'allow', ''
    for cmd in settings_hooks(args):
        r = subprocess.run(['/bin/sh', '-c', cmd], input=json.dumps(dict(
            call, hook_event_name='PreToolUse', cwd=os.getcwd())),
            capture_output=True, text=True)
        if r.stdout.strip():
            out = json.loads(r.stdout)['hookSpecificOutput']
            decision = out['permissionDecision']
            reason = out.get('permissionDecisionReason', '')
            if decision != 'allow':
                break
    sys.stderr.write('hook: %s: %s\n' % (decision, reason))
    sys.stderr.flush()
    if decision == 'allow' and call['tool_name'] == 'Bash':
        subprocess.run(['/bin/sh', '-c', call['tool_input']['command']])


def main(argv, cli_args=()):
    with open(argv[1]) as f:
        script = json.load(f)
    for call in script.get('pre_tool', []):
        pre_tool(list(cli_args), call)
    prompt = ' '.join(argv[2:])
    for rel, text in script.get('write', {}).items():
        d = os.path.dirname(rel)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(rel, 'w') as f:
            f.write(text)
    if script.get('stderr'):
        sys.stderr.write(script['stderr'])
        sys.stderr.flush()
    delay = float(script.get('delay', 0))
    for line in script.get('lines', []):
        if isinstance(line, str):
            text = line.replace('{prompt}', prompt)
        else:
            text = json.dumps(line).replace('{prompt}', prompt)
        sys.stdout.write(text + '\n')
        sys.stdout.flush()
        if delay:
            time.sleep(delay)
    if script.get('sleep'):
        time.sleep(float(script['sleep']))
    return int(script.get('exit', 0))


def stand_in(script_path, record_dir):
    """Record argv, environment, cwd, stdin and parent, then play script."""
    try:
        with open('/proc/%d/cmdline' % os.getppid(), 'rb') as f:
            parent = [w.decode('utf-8', 'replace') for w in f.read().split(b'\0')[:-1]]
    except OSError:
        parent = None
    st = os.fstat(0)
    dev_null = os.stat('/dev/null')
    rec = {'argv': sys.argv, 'env': dict(os.environ), 'cwd': os.getcwd(),
           'stdin_is_dev_null': (st.st_rdev, st.st_ino) == (dev_null.st_rdev,
                                                             dev_null.st_ino),
           'parent': parent}
    name = os.path.basename(sys.argv[0])
    path = os.path.join(record_dir, '%s-%s.json' % (name, os.environ.get('PAI_TASK_ID', 'x')))
    with open(path + '.tmp', 'w') as f:
        json.dump(rec, f)
    os.rename(path + '.tmp', path)
    return main([sys.argv[0], script_path], sys.argv[1:])


if __name__ == '__main__':
    sys.exit(main(sys.argv))
