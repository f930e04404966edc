"""What both chatroom controllers (irctest 0.1.2's and the current
suite's) need from the binary: where it is, and argon2id hashes of the
passwords the suite uses, made with `chatroom hash-password` as
docs/irc.md tells operators to. Hashing is slow in a debug build, so each
password is hashed once per process."""

import functools
import json
import os
import subprocess


def binary():
    return os.environ.get('CHATROOM_BIN', 'target/debug/chatroom')


@functools.lru_cache(maxsize=None)
def hash_password(password):
    return subprocess.run(
        [binary(), 'hash-password'], input=password + '\n', text=True,
        capture_output=True, check=True).stdout.strip()


def toml_string(value):
    """A TOML basic string: JSON's escapes are valid TOML ones for the
    paths and hashes written here."""
    return json.dumps(str(value))
