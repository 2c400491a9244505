"""Ctrl-C while the ``autograd-nn`` command starts: one line and exit status 130, never a traceback.

Starting the command imports NumPy and the engine (a few tenths of a second), and Python turns a Ctrl-C
during those imports into a KeyboardInterrupt traceback. This module is the package's first import
and has none of its own, so when the package is imported by the command line (the ``autograd-nn``
script or ``python -m autograd_nn``) it puts a handler in place before any heavy import: the handler
says "interrupted" and ends the process. ``digits/cli.py``'s ``main`` gives Ctrl-C back to Python's
default (KeyboardInterrupt) once it runs, and handles it there (``train`` saves the run so far).

Importing the package as a library changes nothing: the handler is installed only for the command.
(A Ctrl-C before Python has run any of the package's code, while it starts itself, is Python's own.)
"""

from __future__ import annotations

import os
import signal
import sys

INTERRUPTED = 130  # the shell's status for a process ended by Ctrl-C (128 + SIGINT)
COMMAND = "autograd-nn"


def _started_as_command() -> bool:
    """Whether this process is the command line: the console script, or ``python -m autograd_nn[...]``."""
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    if script in (COMMAND, f"{COMMAND}.exe", f"{COMMAND}-script.py"):
        return True
    argv = list(getattr(sys, "orig_argv", []))[1:]  # the interpreter's own command line (Python >= 3.10)
    while argv:
        word = argv.pop(0)
        if word.startswith("-m"):
            module = word[2:] or (argv[0] if argv else "")
            return module == "autograd_nn" or module.startswith("autograd_nn.")
        if word in ("-X", "-W", "--check-hash-based-pycs"):  # options that take a value
            argv = argv[1:]
        elif word == "-c" or not word.startswith("-"):  # code or a script: not the command
            return False
    return False


def _interrupted_while_starting(signum, frame) -> None:
    os.write(2, f"{COMMAND}: interrupted\n".encode())
    os._exit(INTERRUPTED)  # nothing has been written yet, so there is nothing to clean up


def settle() -> None:
    """Hand Ctrl-C back to Python (KeyboardInterrupt) if the starting handler is still in place."""
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)


if _started_as_command() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_while_starting)
