#!/usr/bin/env python3
"""Runs irctest's server tests against one server and writes one line per
test, "<test id> <pass|fail|error|skip>", to the file given with --out.

irctest's own entry point (python -m irctest MODULE) prints unittest's
report only; scripts/irctest.sh needs the outcome of every test to compare
it with the committed list of tests chatroom is expected to pass. This
sets the same class attributes as that entry point (every specification,
strict checks on) and uses unittest's result object to collect outcomes.

    run.py chatroom_irctest.chatroom --out results.txt [-k NAME] [--show-io]
"""

import argparse
import importlib
import sys
import unittest


def iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('module')
    parser.add_argument('--out', required=True)
    parser.add_argument('-k', action='append', default=[],
                        help='run only tests whose id contains this')
    parser.add_argument('--show-io', action='store_true')
    args = parser.parse_args()

    from irctest.cases import _IrcTestCase
    from irctest.specifications import Specifications
    import irctest.server_tests as server_tests

    controller = importlib.import_module(args.module).get_irctest_controller_class()
    _IrcTestCase.controllerClass = controller
    _IrcTestCase.controllerClass.openssl_bin = 'openssl'
    _IrcTestCase.show_io = args.show_io
    _IrcTestCase.strictTests = True
    _IrcTestCase.testedSpecifications = frozenset(Specifications)

    tests = [t for t in iter_tests(server_tests.discover())
             if not args.k or any(k in t.id() for k in args.k)]
    # A module that fails to import shows up as a test named
    # unittest.loader._FailedTest; it must count as an error, not vanish.
    suite = unittest.TestSuite(tests)
    result = unittest.TextTestRunner(verbosity=1, stream=sys.stderr).run(suite)

    outcome = {t.id(): 'pass' for t in tests}
    for test, _ in result.failures:
        outcome[test.id()] = 'fail'
    for test, _ in result.errors:
        outcome[test.id()] = 'error'
    for test, _ in result.skipped:
        outcome[test.id()] = 'skip'
    for test, _ in result.expectedFailures:
        outcome[test.id()] = 'fail'
    with open(args.out, 'w') as fd:
        for test_id in sorted(outcome):
            fd.write('{} {}\n'.format(test_id, outcome[test_id]))
    counts = {}
    for value in outcome.values():
        counts[value] = counts.get(value, 0) + 1
    print('{}: {}'.format(controller.software_name, ' '.join(
        '{}={}'.format(k, counts.get(k, 0)) for k in ('pass', 'fail', 'error', 'skip'))))


if __name__ == '__main__':
    main()
