"""pytest plugin (`-p chatroom_irctest.outcomes`) used by
scripts/irctest.sh with the current irctest suite: writes the outcome of
every test to the file given with `--outcomes FILE`, one
"<test id> <pass|fail|error|skip|xfail>" line per test, and the reason of
each one that did not pass to FILE.reasons ("<test id> <outcome>: <reason>"),
for the comparison with the committed expected-pass lists and the table
in docs/irc.md. Under pytest-xdist only the controlling process writes.

It also stops a test's server when the test's own setUp failed or skipped
after starting it: pytest then skips the suite's tearDown, and the server
would run on (the suite's BOT mode tests skip that way on every server
without BOT)."""

import pytest


def pytest_addoption(parser):
    parser.addoption('--outcomes', help='write one "test outcome" line per test here')


class Outcomes:
    def __init__(self, path):
        self.path = path
        self.outcome = {}
        self.reason = {}

    def pytest_runtest_logreport(self, report):
        test = report.nodeid
        if report.when == 'call' or report.outcome != 'passed':
            # A test marked xfail that passes (pytest's XPASS) passed.
            if hasattr(report, 'wasxfail') and not report.passed:
                outcome = 'xfail'
            elif report.skipped:
                outcome = 'skip'
            elif report.failed:
                outcome = 'fail' if report.when == 'call' else 'error'
            else:
                outcome = 'pass'
            # A failing teardown after a passing call still fails the test.
            if self.outcome.get(test) in (None, 'pass'):
                self.outcome[test] = outcome
                if outcome != 'pass':
                    self.reason[test] = reason_of(report)

    def pytest_sessionfinish(self, session):
        with open(self.path, 'w') as fd:
            for test in sorted(self.outcome):
                fd.write('{} {}\n'.format(test, self.outcome[test]))
        with open(self.path + '.reasons', 'w') as fd:
            for test in sorted(self.reason):
                fd.write('{} {}: {}\n'.format(test, self.outcome[test], self.reason[test]))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    controller = getattr(getattr(item, 'instance', None), 'controller', None)
    if controller is not None and getattr(controller, 'proc', None) is not None:
        controller.kill()


def reason_of(report):
    if hasattr(report, 'wasxfail') and not report.passed:
        text = 'expected to fail on some servers: ' + report.wasxfail
    elif report.skipped and isinstance(report.longrepr, tuple):
        text = report.longrepr[2]
    else:
        text = getattr(report, 'longreprtext', '') or str(report.longrepr)
        # The assertion's own line is the most telling one.
        lines = [line for line in text.splitlines() if line.startswith('E ')]
        text = lines[0][1:] if lines else (text.splitlines() or [''])[-1]
    return ' '.join(text.split())[:300]


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    path = config.getoption('outcomes')
    if path and not hasattr(config, 'workerinput'):
        config.pluginmanager.register(Outcomes(path), 'chatroom-outcomes')
