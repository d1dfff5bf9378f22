"""The `softfer` command: the parser (``parser.py``), what each subcommand does (``commands.py``) and here
the one place that turns errors into one line and an exit code.

Exit codes: 0 success; 1 a failure while running (unreadable media beyond the skip cap, a full disk, a
torch error, inputs that failed in ``preprocess``/``predict``/``data inspect --verify``); 2 a usage error
(arguments, a config value, a dataset or label file that cannot be read as asked). 130 when interrupted.
Under torchrun a usage error met before the processes meet (a config value, a batch that does not divide:
the same in every process) and a Ctrl-C (torchrun passes it to each process) are printed by the first
process of each machine only (``_said_by_another_rank``; torchrun is told by ``TORCHRUN_MARK``, not by RANK,
which a shell may hold); every process exits with its code unless torchrun ends it first.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout

from softfer.cli.parser import build_parser
from softfer.cli.parser_tools import folds_type, seeds_type
from softfer.io.console import setup_logging
from softfer.io.errors import MediaError
from softfer.io.threads import apply_threads, set_wait_policy

__all__ = ["build_parser", "folds_type", "main", "seeds_type"]

USAGE = 2
FAILURE = 1
INTERRUPTED = 130
BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports it
# set by torchrun for the processes it starts, never by hand: RANK and WORLD_SIZE left over in a shell must
# not silence a process that nobody else speaks for (nor make it wait for a torchrun that is not there)
TORCHRUN_MARK = "TORCHELASTIC_RUN_ID"
SILENT_WAIT_S = 30.0  # how long a silent torchrun process waits to be ended once the first one has spoken


def exit_code(exc: BaseException) -> int:
    """The exit code of an error that ended a command (see the module docstring)."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, MediaError):  # also a ValueError for videos, but found while running
        return FAILURE
    if isinstance(exc, ValueError | FileNotFoundError | NotADirectoryError | FileExistsError):
        return USAGE
    return FAILURE


def error_line(exc: BaseException) -> str:
    """One line for the user: softfer's own messages as they are, others with their type and a hint.

    softfer's errors (ValueError, MediaError, OSError with a file name) already name the file and what to
    do. Anything else is unexpected here: its type, its first line, and how to see the traceback.
    """
    if isinstance(exc, KeyboardInterrupt):
        return "softfer: interrupted"
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    more = " ..." if "\n" in text else ""
    if isinstance(exc, ValueError | OSError | MediaError):
        # softfer's own messages; a config error lists each invalid field on a line of its own
        return f"softfer: error: {text}"
    return f"softfer: error: {type(exc).__name__}: {first}{more} (run again with --debug for the traceback)"


@contextmanager
def printed_as_asked(args: argparse.Namespace) -> Iterator[None]:
    """Silence what the command prints on stdout under --quiet ("warnings and errors only"), unless its
    printed text is its result: one place for every command, so that a new command inherits it.

    Most commands print what they did and wrote (scores, a summary, "wrote ..."): info, all of it in their
    files. A command whose printed text is the answer asked for and is written to no file (`data inspect`,
    `models list`, `reproduce`) says so with ``prints_result`` in the parser and prints it with --quiet too
    (tests/cli/test_quiet.py walks the parser). Warnings and errors go to stderr (the logging handler,
    ``error_line``) and stay."""
    if not getattr(args, "quiet", False) or getattr(args, "prints_result", False):
        yield
        return
    with open(os.devnull, "w") as null, redirect_stdout(null):  # print() and rich consoles alike
        yield


def _log_level(args) -> int:
    if getattr(args, "quiet", False):
        return logging.WARNING
    return logging.DEBUG if getattr(args, "verbose", False) else logging.INFO


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `softfer` console script; returns the exit code."""
    # first thing, before any command imports torch: OpenMP reads its wait policy once, when torch loads it
    set_wait_policy()
    args = build_parser().parse_args(argv)
    setup_logging(_log_level(args))
    try:
        if hasattr(args, "threads"):  # a command that computes: its --threads, or the default, before it runs
            args.threads = apply_threads(args.threads)
        with printed_as_asked(args):
            code = args.func(args)
    except BrokenPipeError:  # the reader went away (`softfer ... | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return BROKEN_PIPE
    except (Exception, KeyboardInterrupt) as exc:
        if getattr(args, "debug", False):
            raise
        if not _said_by_another_rank(exc):
            print(error_line(exc), file=sys.stderr)
        elif not isinstance(exc, KeyboardInterrupt):
            _let_the_first_process_speak()
        return exit_code(exc)
    return int(code or 0)


def _said_by_another_rank(exc: BaseException) -> bool:
    """Whether this process is one of several that torchrun started on this machine, other than its first
    (LOCAL_RANK > 0), and ``exc`` is one the first process meets too, so that its line says it, once per
    machine instead of once per process:

    - a usage error raised before the process group started: until then every process reads the same
      command line, config and files. Later errors (one process's face cache, its GPU) are printed by every
      process that meets them: one process's error is never left unsaid;
    - a Ctrl-C (KeyboardInterrupt), whenever it comes: torchrun passes the SIGINT it gets on to every
      process it started (each in a session of its own, which the terminal does not signal).
    """
    interrupted = isinstance(exc, KeyboardInterrupt)
    if TORCHRUN_MARK not in os.environ or not (interrupted or exit_code(exc) == USAGE):
        return False  # not under torchrun (torch is not imported), or an error of this process's own
    dist = sys.modules.get("torch.distributed")
    if not interrupted and dist is not None and dist.is_available() and dist.is_initialized():
        return False
    from softfer.engine.runtime import process_ranks  # the one reading of torchrun's variables

    try:
        _, world, local = process_ranks()
    except ValueError:
        return False  # a broken torchrun environment: every process says what is wrong
    return world > 1 and 0 < local < world


def _let_the_first_process_speak() -> None:
    """Wait, up to ``SILENT_WAIT_S``, before a silent process exits on a usage error. torchrun ends every
    process as soon as one fails: a silent one exiting first had the first process stopped before it printed
    its line (the error went unsaid, 1 in 4 times on 2 busy cores). The first process meets the same error,
    says it and exits; torchrun then ends this one."""
    time.sleep(SILENT_WAIT_S)
