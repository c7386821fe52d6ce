"""The `socket` module of a student's program run in the page.

Python in the browser has no sockets of its own (Pyodide's built-in
`socket` is Emscripten's emulation, whose `gethostname()` says
"emscripten"). This module replaces it in `sys.modules` before the
student's program runs, with the same names and behaviour as CPython's:
every call (`socket()`, `bind()`, `accept()`, `recv()`, ...) is sent to
the bridge, which performs it on a real socket, traces it with the
student's line, and answers. The call blocks until the answer comes, as
it would in a terminal.

What a student should notice: nothing. The handout's programs run as
written. Errors are the exceptions CPython raises on Linux
(`ConnectionRefusedError: [Errno 111] Connection refused`, `TimeoutError:
timed out`), with the student's own line in the traceback.
"""

import builtins as _builtins
import enum as _enum
import errno as _errno
import json as _json
import sys as _sys

import _socket as _emscripten_socket
import _socketlab

# The student's file name (`server.py`), set by the worker before the
# program runs: each call reports the line of the first frame in it.
_student_file = None

# --- constants (Linux's values: what a terminal's Python prints) ----------


class AddressFamily(_enum.IntEnum):
    AF_UNSPEC = 0
    AF_UNIX = 1
    AF_INET = 2
    AF_INET6 = 10


class SocketKind(_enum.IntEnum):
    SOCK_STREAM = 1
    SOCK_DGRAM = 2
    SOCK_RAW = 3


AF_UNSPEC = AddressFamily.AF_UNSPEC
AF_UNIX = AddressFamily.AF_UNIX
AF_INET = AddressFamily.AF_INET
AF_INET6 = AddressFamily.AF_INET6
SOCK_STREAM = SocketKind.SOCK_STREAM
SOCK_DGRAM = SocketKind.SOCK_DGRAM
SOCK_RAW = SocketKind.SOCK_RAW
SOCK_NONBLOCK = 2048
SOCK_CLOEXEC = 524288

IPPROTO_IP = 0
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
SOL_SOCKET = 1
SOL_TCP = 6
SOL_UDP = 17
SO_DEBUG = 1
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_BROADCAST = 6
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_LINGER = 13
SO_REUSEPORT = 15
SO_RCVTIMEO = 20
SO_SNDTIMEO = 21
TCP_NODELAY = 1
IPV6_V6ONLY = 26
SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2
SOMAXCONN = 4096
MSG_PEEK = 2
MSG_WAITALL = 256
MSG_DONTWAIT = 64
AI_PASSIVE = 1
INADDR_ANY = 0
INADDR_LOOPBACK = 0x7F000001
has_ipv6 = True

# Pure helpers with nothing to do with the network: the built-in ones work.
htons = _emscripten_socket.htons
ntohs = _emscripten_socket.ntohs
htonl = _emscripten_socket.htonl
ntohl = _emscripten_socket.ntohl
inet_aton = _emscripten_socket.inet_aton
inet_ntoa = _emscripten_socket.inet_ntoa
inet_pton = _emscripten_socket.inet_pton
inet_ntop = _emscripten_socket.inet_ntop

# --- exceptions -------------------------------------------------------------

error = OSError
timeout = TimeoutError


class herror(OSError):
    pass


class gaierror(OSError):
    pass


# Linux's numbers, so messages read as in a terminal ("[Errno 111]").
# Pyodide's own errno numbers are WASI's (ECONNREFUSED is 14 there); the
# exception class still comes from Python's own table, by name.
_LINUX_ERRNO = {
    "EPERM": 1,
    "EINTR": 4,
    "EBADF": 9,
    "EAGAIN": 11,
    "EACCES": 13,
    "EINVAL": 22,
    "EMFILE": 24,
    "EPIPE": 32,
    "ENOTSOCK": 88,
    "EDESTADDRREQ": 89,
    "EMSGSIZE": 90,
    "EPROTOTYPE": 91,
    "EOPNOTSUPP": 95,
    "EAFNOSUPPORT": 97,
    "EADDRINUSE": 98,
    "EADDRNOTAVAIL": 99,
    "ENETDOWN": 100,
    "ENETUNREACH": 101,
    "ECONNABORTED": 103,
    "ECONNRESET": 104,
    "ENOBUFS": 105,
    "EISCONN": 106,
    "ENOTCONN": 107,
    "ETIMEDOUT": 110,
    "ECONNREFUSED": 111,
    "EHOSTUNREACH": 113,
    "EALREADY": 114,
    "EINPROGRESS": 115,
}


def _os_error(name, message):
    """The exception CPython raises for errno `name` (`"ECONNREFUSED"` gives
    `ConnectionRefusedError`), numbered as on Linux."""
    wasi_number = getattr(_errno, name, None)
    cls = type(OSError(wasi_number, message)) if wasi_number is not None else OSError
    number = _LINUX_ERRNO.get(name, wasi_number)
    if number is None:
        return OSError(message)
    return cls(number, message)


# --- the calls --------------------------------------------------------------


def _student_line():
    """The line of the student's program that is making this call (the
    first frame, from the innermost, in the student's file: inside a
    `with` block's exit that is the `with` line)."""
    frame = _sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == _student_file:
            return frame.f_lineno
        frame = frame.f_back
    return None


def _call(op, timeout=None, post=False):
    """Sends one call to the bridge and blocks until it answers; returns the
    value or raises the exception Python would. With `post` (a blocking TCP
    send) the page may go on without the answer: then None. If such a send
    fails, the next call on the socket raises its error."""
    timeout_ms = None if timeout is None else int(round(timeout * 1000))
    answer = _socketlab.call(_json.dumps(op), timeout_ms, _student_line(), post)
    if answer is None:
        return None
    reply = _json.loads(answer)
    if reply.get("interrupted"):
        raise KeyboardInterrupt
    if "ok" in reply:
        return reply["ok"]
    err = reply.get("err") or {}
    name = err.get("errno", "")
    message = err.get("message", "") or "socket error"
    if name == "timeout":
        if timeout == 0:
            exc = BlockingIOError(_LINUX_ERRNO["EAGAIN"], "Resource temporarily unavailable")
        else:
            exc = TimeoutError("timed out")
    elif name.startswith("EAI_"):
        # Linux's numbers: EAI_AGAIN -3 (no answer), EAI_NONAME -2.
        exc = gaierror(-3 if name == "EAI_AGAIN" else -2, message)
    else:
        exc = _os_error(name, message)
    # For the page: which socket error this was, and what it means to a
    # student (the protocol's ErrorKind), so it can explain it beside the line.
    exc._socketlab_errno = name
    exc._socketlab_kind = err.get("kind")
    raise exc


def _parse_addr(text):
    """`"127.0.0.1:1234"` -> `('127.0.0.1', 1234)`; `"[::1]:80"` ->
    `('::1', 80, 0, 0)`, as Python gives IPv6 addresses."""
    host, _, port = text.rpartition(":")
    if host.startswith("["):
        return (host[1:-1], int(port), 0, 0)
    return (host, int(port))


def _host_port(address, family, what):
    """Checks an address tuple as CPython does, with its messages."""
    if not isinstance(address, tuple):
        raise TypeError(f"{what}(): AF_INET address must be tuple, not {type(address).__name__}")
    if family == AF_INET6:
        if not 2 <= len(address) <= 4:
            raise TypeError(f"{what}(): AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])")
    elif len(address) != 2:
        raise TypeError(f"{what}(): AF_INET address must be a pair (host, port)")
    host, port = address[0], address[1]
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("idna")
    if not isinstance(host, str):
        raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
    if len(host) > 253:
        raise gaierror(-2, "Name or service not known")
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
    if not 0 <= port <= 65535:
        raise OverflowError(f"{what}(): port must be 0-65535.")
    return host, port


def _bytes_of(data):
    if isinstance(data, str):
        raise TypeError("a bytes-like object is required, not 'str'")
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(data).__name__}'") from None


# One message to the bridge carries at most this many bytes (hex doubles
# them; the bridge reads messages of up to 64 KiB).
_CHUNK = 16 * 1024

_default_timeout = None
_GLOBAL_DEFAULT_TIMEOUT = object()

# File descriptor numbers as a terminal's program would see them: 3, 4, ...
_fds = iter(range(3, 1 << 30))


class socket:
    """A socket whose calls the bridge performs on a real one."""

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is not None:
            raise OSError(_LINUX_ERRNO["EOPNOTSUPP"], "socket(fileno=...) is not available in the browser")
        family = AF_INET if family == -1 else family
        type = SOCK_STREAM if type == -1 else type
        kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)
        if family not in (AF_INET, AF_INET6):
            raise _os_error("EAFNOSUPPORT", "Address family not supported by protocol (the page's sockets are AF_INET and AF_INET6)")
        if kind not in (SOCK_STREAM, SOCK_DGRAM):
            raise _os_error("EPROTOTYPE", "Protocol wrong type for socket (the page's sockets are SOCK_STREAM and SOCK_DGRAM)")
        self._family = AddressFamily(family)
        self._type = SocketKind(kind)
        self._proto = 0 if proto == -1 else proto
        self._timeout = 0.0 if type & SOCK_NONBLOCK else _default_timeout
        self._local = None
        self._peer = None
        self._closed = False
        self._options = {}
        value = _call(
            {
                "op": "socket",
                "family": "ipv6" if family == AF_INET6 else "ipv4",
                "transport": "udp" if kind == SOCK_DGRAM else "tcp",
            }
        )
        self._sock = value["sock"]
        self._fd = next(_fds)

    @classmethod
    def _accepted(cls, parent, sock, local, peer):
        self = cls.__new__(cls)
        self._family = parent._family
        self._type = parent._type
        self._proto = parent._proto
        self._timeout = _default_timeout
        self._local = local
        self._peer = peer
        self._closed = False
        self._options = {}
        self._sock = sock
        self._fd = next(_fds)
        return self

    # -- what the socket is --

    @property
    def family(self):
        return self._family

    @property
    def type(self):
        return self._type

    @property
    def proto(self):
        return self._proto

    def fileno(self):
        return -1 if self._closed else self._fd

    def __repr__(self):
        text = f"<socket.socket fd={self.fileno()}, family={self._family}, type={self._type}, proto={self._proto}"
        if self._closed:
            return f"<socket.socket [closed] fd=-1, family={self._family}, type={self._type}, proto={self._proto}>"
        if self._local is not None:
            text += f", laddr={self._local}"
        if self._peer is not None:
            text += f", raddr={self._peer}"
        return text + ">"

    def _check_open(self):
        if self._closed:
            raise _os_error("EBADF", "Bad file descriptor")

    def _timed(self, op):
        self._check_open()
        return _call(op, self._timeout)

    def _send(self, data, all):
        """A TCP send; a blocking one goes on once its bytes are handed over
        (all of them, as Linux's blocking send() sends them all)."""
        self._check_open()
        post = self._timeout is None and self._type == SOCK_STREAM
        value = _call({"op": "send", "sock": self._sock, "data": data.hex(), "all": all}, self._timeout, post)
        return len(data) if value is None else value["n"]

    # -- server side --

    def bind(self, address):
        host, port = _host_port(address, self._family, "bind")
        value = self._timed({"op": "bind", "sock": self._sock, "host": host, "port": port})
        self._local = _parse_addr(value["local"])
        # Where the real socket is on the bridge's machine: a terminal's
        # `python3 client.py` or `nc` reaches it there.
        self.real_address = _parse_addr(value["real"])

    def listen(self, backlog=128):
        self._timed({"op": "listen", "sock": self._sock, "backlog": max(0, int(backlog))})

    def accept(self):
        value = self._timed({"op": "accept", "sock": self._sock})
        peer = _parse_addr(value["peer"])
        conn = socket._accepted(self, value["sock"], _parse_addr(value["local"]), peer)
        return conn, peer

    # -- client side --

    def connect(self, address):
        host, port = _host_port(address, self._family, "connect")
        value = self._timed({"op": "connect", "sock": self._sock, "host": host, "port": port})
        if value.get("value") == "connected":
            self._local = _parse_addr(value["local"])
            self._peer = _parse_addr(value["peer"])
        else:
            self._peer = (host, port)

    def connect_ex(self, address):
        try:
            self.connect(address)
        except OSError as err:
            return err.errno or _LINUX_ERRNO["EINVAL"]
        return 0

    # -- data --

    def send(self, data, flags=0):
        return self._send(_bytes_of(data)[:_CHUNK], False)

    def sendall(self, data, flags=0):
        data = _bytes_of(data)
        start = 0
        while True:
            chunk = data[start : start + _CHUNK]
            self._send(chunk, True)
            start += len(chunk)
            if start >= len(data):
                return None

    def recv(self, bufsize, flags=0):
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        value = self._timed({"op": "recv", "sock": self._sock, "max": min(bufsize, 0xFFFFFFFF)})
        return bytes.fromhex(value["data"])

    def recv_into(self, buffer, nbytes=0, flags=0):
        view = memoryview(buffer).cast("B")
        data = self.recv(nbytes or len(view))
        view[: len(data)] = data
        return len(data)

    def sendto(self, data, flags_or_address, address=None):
        if address is None:
            address = flags_or_address
        data = _bytes_of(data)
        if len(data) > _CHUNK:
            raise _os_error("EMSGSIZE", f"Message too long (the page sends datagrams of up to {_CHUNK} bytes)")
        host, port = _host_port(address, self._family, "sendto")
        value = self._timed(
            {"op": "send_to", "sock": self._sock, "data": data.hex(), "host": host, "port": port}
        )
        return value["n"]

    def recvfrom(self, bufsize, flags=0):
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        value = self._timed({"op": "recv_from", "sock": self._sock, "max": min(bufsize, 0xFFFFFFFF)})
        return bytes.fromhex(value["data"]), _parse_addr(value["peer"])

    # -- ending --

    def shutdown(self, how):
        names = {SHUT_RD: "read", SHUT_WR: "write", SHUT_RDWR: "both"}
        if how not in names:
            raise _os_error("EINVAL", "Invalid argument")
        self._timed({"op": "shutdown", "sock": self._sock, "how": names[how]})

    def close(self):
        # Closing twice is not an error, as in Python.
        if self._closed:
            return
        self._closed = True
        try:
            _call({"op": "close", "sock": self._sock})
        except OSError:
            # The socket is closed either way (after Stop the bridge has
            # closed it already), as close() in a terminal always closes.
            pass

    def detach(self):
        raise OSError(_LINUX_ERRNO["EOPNOTSUPP"], "detach() is not available in the browser")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- settings --

    def settimeout(self, value):
        if value is not None:
            value = float(value)
            if value < 0:
                raise ValueError("Timeout value out of range")
        self._timeout = value

    def gettimeout(self):
        return self._timeout

    def setblocking(self, flag):
        self._timeout = None if flag else 0.0

    def getblocking(self):
        return self._timeout != 0.0

    def setsockopt(self, level, optname, value, optlen=None):
        # Accepted and remembered: SO_REUSEADDR is what every lab server
        # sets, and the bridge's real sockets already behave that way.
        self._check_open()
        self._options[(level, optname)] = value

    def getsockopt(self, level, optname, buflen=None):
        self._check_open()
        if (level, optname) == (SOL_SOCKET, SO_TYPE):
            return int(self._type)
        return self._options.get((level, optname), 0)

    def getsockname(self):
        self._check_open()
        if self._local is not None:
            return self._local
        return ("::", 0, 0, 0) if self._family == AF_INET6 else ("0.0.0.0", 0)

    def getpeername(self):
        self._check_open()
        if self._peer is None:
            raise _os_error("ENOTCONN", "Transport endpoint is not connected")
        return self._peer

    def makefile(self, *args, **kwargs):
        raise OSError(_LINUX_ERRNO["EOPNOTSUPP"], "makefile() is not available in the browser: use recv() and send()")


SocketType = socket

# --- names ------------------------------------------------------------------

_HOSTNAME = _socketlab.hostname
_LOOPBACK_NAMES = {_HOSTNAME, "localhost", "", "0.0.0.0", "127.0.0.1"}


def gethostname():
    """The lab machine's name: it resolves to this machine (loopback), so the
    handout's `bind((socket.gethostname(), 1234))` works as written."""
    return _HOSTNAME


def getfqdn(name=""):
    return _HOSTNAME if name in ("", _HOSTNAME, "localhost") else name


def gethostbyname(hostname):
    if hostname in (_HOSTNAME, "localhost"):
        return "127.0.0.1"
    try:
        inet_aton(hostname)
        return hostname
    except OSError:
        pass
    raise gaierror(
        -2,
        "Name or service not known (in the browser only socket.gethostname() and 'localhost' "
        "are resolved here; give other names to connect() itself)",
    )


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    if host is None:
        host = "::1" if family == AF_INET6 else "127.0.0.1"
    if family == AF_INET6 or ":" in host:
        addr = ("::1" if host in ("::", "::1", "localhost", _HOSTNAME) else host, int(port or 0), 0, 0)
        fam = AF_INET6
    else:
        addr = (gethostbyname(host) if host not in ("", "0.0.0.0") else host or "0.0.0.0", int(port or 0))
        fam = AF_INET
    kinds = [type] if type else [SOCK_STREAM, SOCK_DGRAM]
    return [(fam, SocketKind(k), IPPROTO_UDP if k == SOCK_DGRAM else IPPROTO_TCP, "", addr) for k in kinds]


def getdefaulttimeout():
    return _default_timeout


def setdefaulttimeout(value):
    global _default_timeout
    if value is not None and value < 0:
        raise ValueError("Timeout value out of range")
    _default_timeout = None if value is None else float(value)


def create_connection(address, timeout=_GLOBAL_DEFAULT_TIMEOUT, source_address=None, *, all_errors=False):
    host, port = address[0], address[1]
    sock = socket(AF_INET6 if ":" in host else AF_INET, SOCK_STREAM)
    try:
        if timeout is not _GLOBAL_DEFAULT_TIMEOUT:
            sock.settimeout(timeout)
        if source_address:
            sock.bind(source_address)
        sock.connect((host, port))
        return sock
    except BaseException:
        sock.close()
        raise


def create_server(address, *, family=AF_INET, backlog=None, reuse_port=False, dualstack_ipv6=False):
    sock = socket(family, SOCK_STREAM)
    try:
        sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        sock.bind(address)
        if backlog is None:
            sock.listen()
        else:
            sock.listen(backlog)
        return sock
    except BaseException:
        sock.close()
        raise


# --- what the browser cannot do ---------------------------------------------

NO_THREADS = (
    "the browser runs your program in one thread and cannot start another: "
    "threads (and select(), which waits on many sockets at once) work only in a terminal "
    "(python3 server.py). Handle one client at a time here: accept(), talk, close, repeat."
)


def _cannot(*args, **kwargs):
    raise RuntimeError(NO_THREADS)
