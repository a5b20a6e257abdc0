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


if __name__ == '__main__':
    sys.exit(main(sys.argv))
