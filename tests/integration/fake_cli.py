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
     "exit": 0}             the exit status

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
import sys
import time


def main(argv):
    with open(argv[1]) as f:
        script = json.load(f)
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
    return main([sys.argv[0], script_path])


if __name__ == '__main__':
    sys.exit(main(sys.argv))
