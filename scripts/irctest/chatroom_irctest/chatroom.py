"""irctest controller for chatroom: runs the binary named by CHATROOM_BIN
(default target/debug/chatroom) with only the IRC listener, on loopback,
with a temporary data directory and the flood and connection limits off so
the suite's quick bursts are not throttled.

The configuration file turns off the automatic `#lobby` (irctest expects
nobody to be in a room after registration, and LIST to be empty on a new
server) and, for the connection-password tests, sets `irc_password_hash`
from `chatroom hash-password`, as docs/irc.md tells operators to. It lets
the suite's short passwords ("sesame") through and turns nickname
protection off, since the suite registers accounts named like the nicks
its other clients use.

Accounts are registered the way a person would: a client connects and
sends the IRCv3 `REGISTER` command (draft/account-registration)."""

import os
import socket
import subprocess
import time

from irctest.basecontrollers import (
    BaseServerController, DirectoryBasedController, NotImplementedByController)

from . import common, serverconf


class ChatroomController(BaseServerController, DirectoryBasedController):
    software_name = 'chatroom'
    supported_sasl_mechanisms = {'PLAIN'}

    def run(self, hostname, port, password=None, ssl=False,
            restricted_metadata_keys=None,
            valid_metadata_keys=None, invalid_metadata_keys=None):
        common.refuse_unsupported(valid_metadata_keys, invalid_metadata_keys)
        assert self.proc is None
        self.port = port
        self.create_config()
        binary = serverconf.binary()
        config = ('[hub]\ndefault_rooms = []\n'
                  '[accounts]\nmin_password_len = 4\nnick_grace_secs = 0\n'
                  'max_registrations_per_ip_per_hour = 0\n')
        if password:
            config = 'irc_password_hash = {}\n'.format(
                serverconf.toml_string(serverconf.hash_password(password))) + config
        with self.open_file('chatroom.toml', 'w') as fd:
            fd.write(config)
        log = open(os.path.join(self.directory, 'server.log'), 'w')
        self.proc = subprocess.Popen(
            [binary, 'serve', '--bind', '127.0.0.1', '--irc-port', str(port),
             '--no-line', '--no-tls', '--no-web', '--no-metrics', '--flood-rate', '0', '--max-per-ip', '0',
             '--max-connects-per-ip', '0',
             '--max-connections', '0',
             '--server-name', 'irctest.chatroom.local',
             '--config', os.path.join(self.directory, 'chatroom.toml'),
             '--data-dir', os.path.join(self.directory, 'data')],
            stdout=log, stderr=subprocess.STDOUT)
        common.wait_for_listener(self, self.proc, port)

    def wait_for_port(self):
        pass

    def registerUser(self, case, username, password=None):
        if password is None:
            raise NotImplementedByController('accounts without a password')
        with socket.create_connection(('127.0.0.1', self.port), timeout=10) as sock:
            sock.sendall('NICK {0}\r\nUSER {0} 0 * :{0}\r\nREGISTER * * {1}\r\nQUIT\r\n'
                         .format(username, password).encode())
            seen = b''
            deadline = time.monotonic() + 10
            while b'REGISTER SUCCESS' not in seen:
                if time.monotonic() > deadline:
                    raise RuntimeError('registering {} failed: {!r}'.format(username, seen))
                chunk = sock.recv(4096)
                if not chunk:
                    raise RuntimeError('registering {} failed: {!r}'.format(username, seen))
                seen += chunk


def get_irctest_controller_class():
    return ChatroomController
