#!/usr/bin/env python3
"""Compares one irctest run with its committed expected-pass list, for
scripts/irctest.sh.

    compare.py RESULTS EXPECTED LABEL [LOG]

RESULTS has one "<test id> <outcome>" line per test (the id may hold
spaces; the outcome is the last word). EXPECTED lists the tests that must
pass, one a line; a line "#racy <test id>" names a test that passes on
some runs only and is not required; other lines starting with # are
comments. EXPECTED "-": only the counts (the peers in the comparison). Prints the counts, then every listed test that did not pass (a
regression: exit status 1) and every passing test the list lacks."""

import sys


def main():
    results_path, expected_path, label = sys.argv[1:4]
    log = sys.argv[4] if len(sys.argv) > 4 else results_path
    outcome = {}
    with open(results_path) as fd:
        for line in fd:
            line = line.rstrip('\n')
            if line:
                test, _, result = line.rpartition(' ')
                outcome[test] = result
    required, racy = [], set()
    with open(expected_path if expected_path != '-' else '/dev/null') as fd:
        for line in fd:
            line = line.rstrip('\n')
            if line.startswith('#racy '):
                racy.add(line[len('#racy '):])
            elif line and not line.startswith('#'):
                required.append(line)
    counts = {}
    for result in outcome.values():
        counts[result] = counts.get(result, 0) + 1
    print('irctest {}: {} tests: {}'.format(label, len(outcome), ', '.join(
        '{} {}'.format(counts.get(k, 0), name) for k, name in
        (('pass', 'passed'), ('fail', 'failed'), ('error', 'errors'),
         ('skip', 'skipped'), ('xfail', 'xfailed')) if k in counts or k in ('pass', 'fail', 'skip'))))
    status = 0
    for test in required:
        if outcome.get(test) != 'pass':
            print('irctest {}: regression: {}: {} (details in {})'.format(
                label, test, outcome.get(test, 'missing'), log), file=sys.stderr)
            status = 1
    if expected_path == '-':
        return status
    listed = set(required) | racy
    for test in sorted(outcome):
        if outcome[test] == 'pass' and test not in listed:
            print('irctest {}: also passing (not in {}): {}'.format(label, expected_path, test))
    return status


if __name__ == '__main__':
    sys.exit(main())
