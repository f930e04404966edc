"""irctest controller for ngircd (Debian package): foreground, loopback,
no DNS/ident/PAM lookups, penalties off so the suite is not slowed."""

import os
import subprocess

from irctest.basecontrollers import BaseServerController, DirectoryBasedController

from . import common

CONFIG = """[Global]
	Name = irctest.ngircd.local
	Info = irctest
	Listen = 127.0.0.1
	Ports = {port}
	MotdPhrase = irctest
	PidFile = {directory}/ngircd.pid
	Password = {password}
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxPenaltyTime = 0
[Options]
	DNS = no
	Ident = no
	PAM = no
"""


class NgircdController(BaseServerController, DirectoryBasedController):
    software_name = 'ngircd'
    supported_sasl_mechanisms = set()

    def run(self, hostname, port, password=None, ssl=False,
            restricted_metadata_keys=None,
            valid_metadata_keys=None, invalid_metadata_keys=None):
        common.refuse_unsupported(valid_metadata_keys, invalid_metadata_keys)
        assert self.proc is None
        self.port = port
        self.create_config()
        with self.open_file('ngircd.conf', 'w') as fd:
            fd.write(CONFIG.format(port=port, directory=self.directory,
                                    password=password or ''))
        log = open(os.path.join(self.directory, 'server.log'), 'w')
        self.proc = subprocess.Popen(
            ['ngircd', '-n', '-f', os.path.join(self.directory, 'ngircd.conf')],
            stdout=log, stderr=subprocess.STDOUT)
        common.wait_for_listener(self, self.proc, port)

    def wait_for_port(self):
        pass


def get_irctest_controller_class():
    return NgircdController
