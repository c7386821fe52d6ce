"""Sets up the interpreter of one Web Worker for a student's program, and runs it.

The worker runs this once while it warms up (`prepare`), before any
program is chosen, so Run has only the program itself left to do
(`run`). What it changes, and why:

- `sys.modules["socket"]`: the page's socket module (`socket.py` beside
  this file), whose calls the bridge performs on real sockets.
- `sys.stdout`, `sys.stderr`: line by line to the page, each line with the
  student's line that printed it.
- `input()`: answered by the page; `time.sleep()`: a real wait that Stop
  can interrupt.
- threads and `select()`: a plain message that the browser cannot run
  them, instead of Pyodide's "can't start new thread".
"""

import builtins
import io
import os
import runpy
import sys
import time
import traceback
import types

import _socketlab_js as js

if js.mode == "jspi":
    # No SharedArrayBuffer here: each blocking call returns a promise, and
    # JavaScript Promise Integration suspends Python until it settles.
    from pyodide.ffi import run_sync as _block
else:
    # The calls block in JavaScript already (Atomics.wait): nothing to do.
    def _block(value):
        return value


WORKDIR = "/home/pyodide/lab"
_shim = None


def _call(op, timeout_ms, line, post=False):
    return _block(js.call(op, timeout_ms, line, post))


class _LineWriter(io.TextIOBase):
    """`sys.stdout` / `sys.stderr`: whole lines to the page, as a terminal
    shows them; a line without its newline waits until the program ends
    (or asks for input)."""

    def __init__(self, stream):
        self._stream = stream
        self.partial = ""

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        *lines, self.partial = (self.partial + text).split("\n")
        if lines:
            line = _shim._student_line() if _shim else None
            for each in lines:
                js.output(self._stream, each + "\n", line)
        return len(text)

    def finish(self):
        if self.partial:
            js.output(self._stream, self.partial, None)
            self.partial = ""


def _input(prompt=""):
    """`input()`: the page asks the student. The transcript shows the prompt
    and the answer on one line, as a terminal does."""
    prompt = sys.stdout.partial + str(prompt) if isinstance(sys.stdout, _LineWriter) else str(prompt)
    if isinstance(sys.stdout, _LineWriter):
        sys.stdout.partial = ""
    answer = _block(js.input(prompt))
    if answer == "\x00interrupted":
        raise KeyboardInterrupt
    if answer == "\x00eof":
        js.output("stdout", prompt + "\n", None)
        raise EOFError("EOF when reading a line")
    js.output("stdout", prompt + answer + "\n", None)
    return answer


def _sleep(seconds):
    """`time.sleep()`: waits without spinning, and Stop ends it."""
    seconds = float(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    if _block(js.sleep(seconds * 1000)):
        raise KeyboardInterrupt


def prepare(shim_source):
    """Installs the page's socket module and the rest (see the module doc)."""
    global _shim
    lab = types.ModuleType("_socketlab")
    lab.call = _call
    lab.hostname = js.hostname
    sys.modules["_socketlab"] = lab

    os.makedirs("/socketlab", exist_ok=True)
    path = "/socketlab/socket.py"
    with open(path, "w") as f:
        f.write(shim_source)
    shim = types.ModuleType("socket")
    shim.__file__ = path
    exec(compile(shim_source, path, "exec"), shim.__dict__)
    sys.modules["socket"] = shim
    _shim = shim

    no_select = types.ModuleType("select")
    no_select.__doc__ = shim.NO_THREADS
    no_select.error = OSError
    no_select.select = no_select.poll = no_select.epoll = shim._cannot
    sys.modules["select"] = no_select
    sys.modules.pop("selectors", None)

    import _thread
    import threading

    threading.Thread.start = shim._cannot
    _thread.start_new_thread = shim._cannot
    _thread.start_new = shim._cannot

    builtins.input = _input
    time.sleep = _sleep
    sys.stdout = _LineWriter("stdout")
    sys.stderr = _LineWriter("stderr")
    os.makedirs(WORKDIR, exist_ok=True)


def _student_traceback(exc, file):
    """The traceback as `python3 file` in a terminal shows it: from the
    student's first frame on, without the runner's or the socket module's
    frames (a real socket's calls are C code and show none either)."""
    if isinstance(exc, SyntaxError) and exc.filename == file:
        return "".join(traceback.format_exception_only(exc))
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and frames[0].filename != file:
        frames.pop(0)
    while frames and frames[-1].filename == _shim.__file__:
        frames.pop()
    text = "".join(traceback.format_exception_only(exc))
    if not frames:
        return text
    return "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + text


def _failure(exc, file):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == file]
    line = frames[-1].lineno if frames else None
    if isinstance(exc, SyntaxError) and exc.filename == file:
        line = exc.lineno
    cause = exc
    while cause is not None and not hasattr(cause, "_socketlab_errno"):
        cause = cause.__context__
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "line": line,
        "traceback": _student_traceback(exc, file),
        "errno": getattr(cause, "_socketlab_errno", None),
        "kind": getattr(cause, "_socketlab_kind", None),
    }


def run(file, source):
    """Runs the student's program as `python3 file` would, and says how it
    ended: `{"state": "exited" | "failed" | "stopped", "detail": ...}`."""
    os.chdir(WORKDIR)
    with open(file, "w") as f:
        f.write(source)
    _shim._student_file = file
    sys.argv = [file]
    sys.path.insert(0, WORKDIR)
    try:
        try:
            runpy.run_path(file, run_name="__main__")
            return {"state": "exited", "detail": {"code": 0}}
        except SystemExit as exit:
            code = exit.code
            if code is None or isinstance(code, int):
                return {"state": "exited", "detail": {"code": code or 0}}
            print(code, file=sys.stderr)
            return {"state": "exited", "detail": {"code": 1}}
        except KeyboardInterrupt:
            return {"state": "stopped", "detail": None}
        except BaseException as exc:
            detail = _failure(exc, file)
            sys.stderr.write(detail["traceback"])
            return {"state": "failed", "detail": detail}
    finally:
        sys.stdout.finish()
        sys.stderr.finish()
