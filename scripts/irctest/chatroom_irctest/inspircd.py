"""irctest controller for InspIRCd 3 (Debian package). The release's own
InspIRCd controller targets 2.x and does not pass --runasroot, which 3.x
needs when started as root (as in CI); this one loads the 3.x modules for
the capabilities the suite tests (cap-notify, echo-message, multi-prefix
via namesx, extended-join, monitor, away-notify, account-notify)."""

import os
import subprocess

from irctest.basecontrollers import BaseServerController, DirectoryBasedController

from . import common

CONFIG = """<server name="irctest.inspircd.local" description="irctest" network="irctest">
<admin name="irctest" nick="irctest" email="irctest@irctest.invalid">
<bind address="127.0.0.1" port="{port}" type="clients">
<module name="cap">
<module name="ircv3">
<module name="ircv3_capnotify">
<module name="ircv3_echomessage">
<module name="namesx">
<module name="monitor">
<connect name="main" allow="*" resolvehostnames="no" useident="no"
         threshold="1000000" commandrate="100000000" fakelag="no" localmax="1000" globalmax="1000"
         {password_field}>
<pid file="{directory}/inspircd.pid">
<log method="file" type="*" level="default" target="{directory}/inspircd.log">
"""


class InspircdController(BaseServerController, DirectoryBasedController):
    software_name = 'InspIRCd'
    supported_sasl_mechanisms = set()

    def run(self, hostname, port, password=None, ssl=False,
            restricted_metadata_keys=None,
            valid_metadata_keys=None, invalid_metadata_keys=None):
        common.refuse_unsupported(valid_metadata_keys, invalid_metadata_keys)
        assert self.proc is None
        self.port = port
        self.create_config()
        with self.open_file('server.conf', 'w') as fd:
            password_field = 'password="{}"'.format(password) if password else ''
            fd.write(CONFIG.format(port=port, directory=self.directory,
                                   password_field=password_field))
        log = open(os.path.join(self.directory, 'server.log'), 'w')
        self.proc = subprocess.Popen(
            ['inspircd', '--nofork', '--runasroot', '--config',
             os.path.join(self.directory, 'server.conf')],
            stdout=log, stderr=subprocess.STDOUT)
        common.wait_for_listener(self, self.proc, port)

    def wait_for_port(self):
        pass


def get_irctest_controller_class():
    return InspircdController
