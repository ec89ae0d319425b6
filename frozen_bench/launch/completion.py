"""Tab completion of ``frozen-bench``: the command words, and Hydra's for the words after ``run``."""

from __future__ import annotations

import os
import re
import sys


def is_completion(argv: list[str]) -> bool:
    """Whether these words ask for shell completion (``-sc install=bash``, ``-sc query=bash``)."""
    return any(a in ("-sc", "--shell-completion") or a.startswith("--shell-completion=") for a in argv)


def shell_completion(argv: list[str], commands: list[str]) -> int:
    """Hydra's shell completion for ``frozen-bench run``: ``-sc install=bash`` prints a script
    registered for ``frozen-bench`` (it calls ``frozen-bench -sc query=bash``, which ``cli``
    sends here); a query completes the command word itself with the command names, the words
    after ``run`` with Hydra's groups, options and keys, and nothing after another command (the
    shell then offers file names). ``commands``: every command word, as ``cli`` knows them. No
    pre-check, no job: these words are not overrides."""
    line = os.environ.get("COMP_LINE")
    saved = line
    if line is not None and any(a.startswith("query=") for a in argv):
        words = line.split()
        current = len(words) - (0 if not line or line[-1].isspace() else 1)  # the word being completed
        if current <= 1:
            print("\n".join(commands))
            return 0
        if words[1] != "run":
            return 0
        os.environ["COMP_LINE"] = re.sub(r"^(\s*\S+)\s+run(?=\s|$)", r"\1", line, count=1)  # Hydra strips the app name
    from frozen_bench.run import app

    old_argv, sys.argv = sys.argv, ["frozen-bench", *argv]  # the name the script registers and calls
    try:
        app()
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old_argv
        if saved is not None:
            os.environ["COMP_LINE"] = saved
    return 0
