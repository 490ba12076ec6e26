"""Running `python -m local ...` as a user would: a separate process, from the repository root,
into a pipe or onto a terminal (a pseudo-terminal of a given width)."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from tests.helpers import ROOT


def local(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m local ARGS` with its output in pipes (not a terminal)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(
        [sys.executable, "-m", "local", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def on_terminal(
    *args: object, columns: int = 80, stream: str = "stdout", timeout: float = 120
) -> tuple[int, str, str]:
    """`python -m local ARGS` with `stream` ("stdout" or "stderr") on a terminal `columns`
    wide and the other in a pipe: (exit status, what the terminal showed, the pipe's text)."""
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm"
    on_pty = {stream: terminal}
    process = subprocess.Popen(
        [sys.executable, "-m", "local", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=on_pty.get("stdout", subprocess.PIPE),
        stderr=on_pty.get("stderr", subprocess.PIPE),
        text=True,
    )
    os.close(terminal)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError as error:  # EIO: the terminal's last writer is gone
            if error.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    piped = process.stderr if stream == "stdout" else process.stdout
    assert piped is not None
    text = piped.read()
    process.wait(timeout=timeout)
    return process.returncode, shown.decode("utf-8", "replace"), text
