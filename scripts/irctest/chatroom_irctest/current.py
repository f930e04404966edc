"""Controller for the current irctest suite (the snapshot in
../shared/irctest; scripts/irctest.sh runs it with pytest). Not for the
0.1.2 release from PyPI: that one's API is chatroom.py's.

Each test gets a fresh server: the binary named by CHATROOM_BIN, on
loopback, with a configuration file and data directory of its own in a
temporary directory. It is started in a session (so a process group) of
its own: the suite stops a server by signalling its whole process group,
which, were the server in pytest's group, would stop pytest too.

What the configuration changes from the defaults, and why:
- nobody is put into `#lobby` on connection (`[hub] default_rooms = []`):
  the suite expects an empty server, and LIST to be empty;
- flood control and the per-address connection limits are off
  (`[limits] flood_rate = 0`, `max_connections_per_ip = 0`,
  `max_connects_per_ip = 0`): every client of the suite comes from
  127.0.0.1, connects in quick succession and sends bursts;
- the login throttle's limits are raised (`[accounts]
  max_failures_per_account`, `max_failures_per_ip`) and registrations per
  address are not limited: the suite logs in and registers many times from
  one address; the tests of wrong passwords still get their refusals;
- REGISTER before the connection is complete only where the test case
  asks for it (`register_before_connect`, from the test's
  `account_registration_before_connect`, false unless a test says
  otherwise, as with the suite's other controllers);
- short passwords are accepted (the suite uses `sesame` and `bar`) and nickname
  protection is off (`nick_grace_secs = 0`): the suite registers accounts
  named like the nicknames its other clients then take;
- an operator `operuser` / `operpassword`, the suite's convention, and for
  the connection-password tests `irc_password_hash`; both hashed with
  `chatroom hash-password`;
- TLS only when a test asks for it (on the test's port, with the suite's
  generated certificate), WebSocket only when a test asks for it.

Services are built in (NickServ, SASL, REGISTER, CHATHISTORY): nothing
separate is started and there is nothing to wait for.

What the server supports is declared below as it really is; it was read
off `CAP LS 302` and the 005 lines of a running server (docs/irc.md lists
both). A behaviour declared here that the server then lacks turns the
suite's skip into a failure, so nothing is declared on faith.
"""

import atexit
import os
import signal
import socket
import subprocess
import time
from typing import Optional

from irctest import patma
from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController
from irctest.specifications import Capabilities, OptionalBehaviors

from . import serverconf

SERVER_NAME = 'My.Little.Server'

# Servers started by this process and not yet stopped: stopped by their
# process id when the process ends (pytest interrupted by a time limit).
RUNNING = set()


@atexit.register
def _stop_leftovers():
    for proc in list(RUNNING):
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)

CONFIG = """\
bind = "127.0.0.1"
server_name = {server_name}
server_info = "test server"
data_dir = {data_dir}
{password_line}
[metrics]
enabled = false

[listeners]
line = false
irc = {plain}
irc_port = {port}

[limits]
flood_rate = 0.0
max_connections = 0
max_connections_per_ip = 0
max_connects_per_ip = 0

[hub]
default_rooms = []

[accounts]
min_password_len = 1
nick_grace_secs = 0
max_registrations_per_ip_per_hour = 0
max_failures_per_account = 1000
max_failures_per_ip = 1000
register_before_connect = {register_before_connect}

[[opers]]
name = "operuser"
password_hash = {oper_hash}

[tls]
enabled = {tls}
port = {port}
{tls_files}
[web]
enabled = {websocket}
port = {websocket_port}
tls_enabled = false
"""


class ChatroomController(BaseServerController, DirectoryBasedController):
    software_name = 'chatroom'
    supported_sasl_mechanisms = {'PLAIN', 'EXTERNAL'}
    supports_sts = False
    # `+b m:nick!user@host` mutes (EXTBAN=,m).
    extban_mute_char = 'm'
    _port_wait_interval = 0.02
    # The suite synchronises with a PING before reading what a client was
    # sent, which assumes a server that handles all connections' commands
    # in one order (as the suite's doc of this attribute says). chatroom
    # reads connections in parallel and answers PING on the connection
    # itself, so a PONG can overtake a message another connection sent
    # just before; this pause lets such a message arrive first.
    sync_sleep_time = 0.02

    # The capabilities of specifications.Capabilities that `CAP LS 302`
    # offers. Not offered: sts.
    capabilities = frozenset((
        Capabilities.ACCOUNT_NOTIFY,
        Capabilities.ACCOUNT_TAG,
        Capabilities.AWAY_NOTIFY,
        Capabilities.BATCH,
        Capabilities.ECHO_MESSAGE,
        Capabilities.EXTENDED_JOIN,
        Capabilities.EXTENDED_MONITOR,
        Capabilities.LABELED_RESPONSE,
        Capabilities.MESSAGE_REDACTION,
        Capabilities.MESSAGE_TAGS,
        Capabilities.MULTILINE,
        Capabilities.MULTI_PREFIX,
        Capabilities.READ_MARKER,
        Capabilities.SERVER_TIME,
        Capabilities.SETNAME,
    ))

    # Implemented (docs/irc.md): +e and +I lists, `CAP REQ -name`,
    # JOIN/KICK/NAMES/PRIVMSG to several targets (TARGMAX), ELIST=CMNTU,
    # SASL after registration (re-authentication is refused with 907).
    # +C (no CTCP but ACTION). Not: non-UTF-8 text (UTF8ONLY), INVITE past +l, INVITE without
    # parameters, metadata.
    optional_behaviors = frozenset((
        OptionalBehaviors.BAN_EXCEPTION_MODE,
        OptionalBehaviors.CAP_REQ_MINUS,
        OptionalBehaviors.ELIST_C,
        OptionalBehaviors.ELIST_M,
        OptionalBehaviors.ELIST_N,
        OptionalBehaviors.ELIST_T,
        OptionalBehaviors.ELIST_U,
        OptionalBehaviors.INVITE_EXCEPTION_MODE,
        OptionalBehaviors.MULTI_JOIN,
        OptionalBehaviors.MULTI_KICK,
        OptionalBehaviors.MULTI_NAMES_COMMAND,
        OptionalBehaviors.MULTI_PRIVMSG,
        OptionalBehaviors.NO_CTCP,
        OptionalBehaviors.SASL_AFTER_REGISTRATION,
    ))

    # Compared by the suite with the 005 lines.
    isupport = {
        'BOT': 'B',
        'CASEMAPPING': 'ascii',
        'EXTBAN': ',m',
        'CHANTYPES': '#',
        'ELIST': 'CMNTU',
        'EXCEPTS': 'e',
        'INVEX': 'I',
        'MONITOR': patma.ANYSTR,
        'MSGREFTYPES': 'msgid,timestamp',
        'PREFIX': '(ov)@+',
        'STATUSMSG': '@+',
        'TARGMAX': patma.ANYSTR,
        'UTF8ONLY': None,
        'WHOX': None,
    }

    def run(self, hostname: str, port: int, *, password: Optional[str],
            ssl: bool, run_services: bool, faketime: Optional[str],
            websocket_hostname: Optional[str] = None,
            websocket_port: Optional[int] = None) -> None:
        assert self.proc is None
        if self.test_config.account_registration_requires_email:
            # No mail is ever sent; REGISTER cannot be told to require one.
            raise NotImplementedByController('registration requiring an e-mail address')
        # No faketime: the server's clocks are its own (faketime_enabled
        # stays False, and the tests that need it say so).
        self.port = port
        self.hostname = hostname
        self.create_config()
        assert self.directory
        tls_files = ''
        if ssl:
            self.gen_ssl()
            tls_files = 'cert = {}\nkey = {}\n'.format(
                serverconf.toml_string(self.pem_path),
                serverconf.toml_string(self.key_path))
        password_line = ''
        if password is not None:
            password_line = 'irc_password_hash = {}\n'.format(
                serverconf.toml_string(serverconf.hash_password(password)))
        config = CONFIG.format(
            server_name=serverconf.toml_string(SERVER_NAME),
            data_dir=serverconf.toml_string(self.directory / 'data'),
            password_line=password_line,
            plain='false' if ssl else 'true',
            port=port,
            oper_hash=serverconf.toml_string(serverconf.hash_password('operpassword')),
            tls='true' if ssl else 'false',
            tls_files=tls_files,
            websocket='true' if websocket_port else 'false',
            websocket_port=websocket_port or 0,
            register_before_connect='true'
            if self.test_config.account_registration_before_connect else 'false',
        )
        with self.open_file('chatroom.toml', 'w') as fd:
            fd.write(config)
        self.log = self.open_file('server.log', 'w')
        # A session of its own: kill_proc signals the process group.
        self.proc = subprocess.Popen(
            [serverconf.binary(), 'serve',
             '--config', str(self.directory / 'chatroom.toml')],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        RUNNING.add(self.proc)

    def kill_proc(self) -> None:
        proc = self.proc
        super().kill_proc()
        RUNNING.discard(proc)
        self.log.close()

    def wait_for_port(self) -> None:
        """As the suite's, but on 127.0.0.1 (no name lookup), giving up
        after 30 s, and waiting for the server's ERROR so that the probe
        has left before a test counts users."""
        deadline = time.monotonic() + 30
        while not self.port_open:
            self.check_is_alive()
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=5) as c:
                    c.sendall(b'QUIT :chkport\r\n')
                    data = b''
                    while b'ERROR' not in data:
                        chunk = c.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                self.port_open = True
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(self._port_wait_interval)

    def wait_for_services(self) -> None:
        # Built in: they answer as soon as the server does.
        pass

    def registerUser(self, case, username: str, password: Optional[str] = None) -> None:
        """Registers the way a person would: NickServ REGISTER from a
        client using the nickname."""
        if not case.run_services:
            raise ValueError('registerUser without run_services')
        if password is None:
            raise NotImplementedByController('accounts without a password')
        register = 'PRIVMSG NickServ :REGISTER ' + password
        if len(register.encode()) > 510:
            # Registering happens over IRC, one line of 512 bytes at most.
            raise NotImplementedByController(
                'registering a password too long for one IRC line')
        client = case.addClient(show_io=False)
        case.sendLine(client, 'NICK ' + username)
        case.sendLine(client, 'USER r e g :user')
        while case.getRegistrationMessage(client).command != '001':
            pass
        case.getMessages(client)
        case.sendLine(client, register)
        deadline = time.monotonic() + 10
        replies = []
        while not any(m.command == '900' for m in replies):
            if time.monotonic() > deadline:
                raise RuntimeError('registering {} failed: {}'.format(username, replies))
            replies += case.getMessages(client)
        case.sendLine(client, 'QUIT')
        case.assertDisconnected(client)


def get_irctest_controller_class():
    return ChatroomController
