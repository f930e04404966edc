"""InspIRCd 3 (Debian's package) under the current irctest suite, for the
comparison in docs/irc.md (scripts/irctest.sh --peers): the suite's own
controller with two changes the package needs. It starts InspIRCd with
`--runasroot`, without which InspIRCd refuses to start as root (as in CI
and on the development machines); and its configuration's include of
`examples/helpop.conf.example` (relative to /etc/inspircd, where the
package has no examples) is pointed at the package's copy of the file, or
dropped where the machine has no documentation installed."""

import os

from irctest.controllers import inspircd

HELPOP = 'examples/helpop.conf.example'
PACKAGED_HELPOP = '/usr/share/doc/inspircd/examples/helpop.conf.example'


class InspircdController(inspircd.InspircdController):
    def execute(self, command, proc_name=None, **kwargs):
        command = list(command)
        if command and command[0] == 'inspircd':
            command.insert(1, '--runasroot')
            config = self.directory / 'server.conf'
            text = config.read_text()
            if os.path.exists(PACKAGED_HELPOP):
                text = text.replace(HELPOP, PACKAGED_HELPOP)
            else:
                text = text.replace('<include file="{}">'.format(HELPOP), '')
            config.write_text(text)
        return super().execute(command, proc_name, **kwargs)


def get_irctest_controller_class():
    return InspircdController
