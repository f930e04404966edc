#!/usr/bin/env python3
"""The length-header tutorial chat client, as the classic tutorial has it.

Every field on the wire is a 10-byte header (the byte length as
left-aligned ASCII decimal padded with spaces) followed by the bytes.
The client sends its username as one field, then each typed line as one
field, and prints every (username, message) pair the server sends as
"username > message".

Like the tutorial, the socket is non-blocking and is only polled after
each line read from standard input (an empty line sends nothing but
still polls). Only deviation: host, port and username may be given as
arguments: lenheader_client.py [HOST [PORT [USERNAME]]]; without them
the tutorial's 127.0.0.1:1234 is used and the username is asked for.
"""

import errno
import socket
import sys

HEADER_LENGTH = 10

IP = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 1234
my_username = sys.argv[3] if len(sys.argv) > 3 else input("Username: ")

client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client_socket.connect((IP, PORT))
client_socket.setblocking(False)


def field(data):
    return f"{len(data):<{HEADER_LENGTH}}".encode("utf-8") + data


client_socket.send(field(my_username.encode("utf-8")))

while True:
    message = input()
    if message:
        client_socket.send(field(message.encode("utf-8")))
    try:
        while True:
            header = client_socket.recv(HEADER_LENGTH)
            if not len(header):
                print("Connection closed by the server")
                sys.exit()
            length = int(header.decode("utf-8").strip())
            username = client_socket.recv(length).decode("utf-8")
            header = client_socket.recv(HEADER_LENGTH)
            length = int(header.decode("utf-8").strip())
            message = client_socket.recv(length).decode("utf-8")
            print(f"{username} > {message}")
    except IOError as e:
        # Nothing (more) to read right now: back to reading input.
        if e.errno != errno.EAGAIN and e.errno != errno.EWOULDBLOCK:
            print("Reading error: {}".format(str(e)))
            sys.exit()
        continue
    except Exception as e:
        print("Reading error: {}".format(str(e)))
        sys.exit()
