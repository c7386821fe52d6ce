# Task 3: the client sends messages to the echo server and prints each echo.
#
# Run:   python3 lab/task3/client.py [HOST [PORT [MESSAGE ...]]]
# The lab's own values are the defaults: this machine's host name, port 1234.
# Each MESSAGE is sent as one line of text; without any, the client sends
# the lab's own three (the ones "Check my task" sends to your server).

import socket  # the socket module: Python's way to make system socket calls
import sys  # sys.argv: the words on the command line

# Where the server is, and what to send: from the command line, or defaults.
Host = sys.argv[1] if len(sys.argv) > 1 else socket.gethostname()
Port = int(sys.argv[2]) if len(sys.argv) > 2 else 1234
# Text is sent as UTF-8 bytes, ending in a newline. The lab's own messages
# test what an echo server must get right: a line of text, bytes that are
# not text at all, and 20,480 bytes, more than any one recv() returns.
Messages = [(text + "\n").encode("utf-8") for text in sys.argv[3:]] or [
    b"Hello, echo server!\n",
    bytes(range(256)),
    bytes(range(256)) * 80,
]

# Create a TCP/IP socket and connect it to the server.
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((Host, Port))

for message in Messages:
    # sendall() keeps sending until every byte has gone.
    s.sendall(message)
    # Read until the whole message has come back: the echo may arrive in
    # pieces, because TCP carries a stream of bytes, not separate messages.
    echo = b""
    while len(echo) < len(message):
        chunk = s.recv(4096)  # at most 4096 bytes per call
        if not chunk:  # b"": the server closed before echoing everything
            break
        echo += chunk
    if echo != message:
        print(f"sent {len(message)} bytes, {len(echo)} came back: not an echo")
        break
    # Display what came back: text as text (it carries its own newline),
    # other bytes by their count.
    try:
        print(echo.decode("utf-8"), end="")
    except UnicodeDecodeError:
        print(f"{len(echo)} bytes that are not text came back unchanged")

# "I will send no more": the server's recv() returns b"" and it closes.
s.shutdown(socket.SHUT_WR)
# Close the socket.
s.close()
