"""What the three controllers share: refusing the options no test run here
can use, and waiting for the listening port by connecting to it (the
release's own wait uses a psutil call that newer psutil versions warn
about, and the servers here all listen on loopback)."""

import socket
import time

from irctest.basecontrollers import NotImplementedByController


def refuse_unsupported(valid_metadata_keys, invalid_metadata_keys):
    """irctest asks for METADATA key lists in the METADATA test classes;
    none of the servers compared here has METADATA, so those tests are
    reported as skipped, not failed."""
    if valid_metadata_keys or invalid_metadata_keys:
        raise NotImplementedByController('METADATA keys')


def wait_for_listener(controller, proc, port, seconds=30.0):
    """Connects until the server accepts, or fails if it exited first."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError('server exited with status {}'.format(proc.returncode))
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                controller.port_open = True
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError('server did not listen on port {}'.format(port))
            time.sleep(0.05)
