#!/usr/bin/env python3
"""The NICK-handshake tutorial chat client, as the classic tutorial has it.

Two threads. The receive thread reads up to 1024 bytes at a time and
decodes them as ASCII: if the text is exactly "NICK" it answers with the
nickname, otherwise it prints it; on any exception it prints
"An error occured!" and closes the socket. The write thread reads lines
from standard input and sends "nickname: line" encoded as ASCII. Neither
direction uses line endings: each send/recv is one message.

Only deviation: host, port and nickname may be given as arguments:
nick_client.py [HOST [PORT [NICKNAME]]]; without them the tutorial's
127.0.0.1:55555 is used and the nickname is asked for.
"""

import socket
import sys
import threading

host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 55555
nickname = sys.argv[3] if len(sys.argv) > 3 else input("Choose your nickname: ")

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect((host, port))


def receive():
    while True:
        try:
            message = client.recv(1024).decode("ascii")
            if message == "NICK":
                client.send(nickname.encode("ascii"))
            else:
                print(message)
        except:  # noqa: E722 -- the tutorial catches everything
            print("An error occured!")
            client.close()
            break


def write():
    while True:
        message = "{}: {}".format(nickname, input(""))
        client.send(message.encode("ascii"))


receive_thread = threading.Thread(target=receive)
receive_thread.start()

write_thread = threading.Thread(target=write)
write_thread.start()
