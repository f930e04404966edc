"""irctest server controllers used by scripts/irctest.sh.

One module per server: chatroom (this project's binary), ngircd and
InspIRCd 3 (the Debian packages). Each starts its server in the foreground
on the loopback port irctest picked, with a configuration written into a
fresh temporary directory, and stops it by its process id.
"""
