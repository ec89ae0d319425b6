"""User-facing errors: one line that names the problem and the fix, never a traceback.

``UserError`` is raised wherever bad input is found (a bad config value, an unwritable output
folder, a malformed CSV, a model that cannot meet its budget, ...); ``DatasetError`` where a
dataset cannot be loaded. ``user_errors()`` are the exception types that mean "the input is wrong"
rather than "frozen-bench has a bug": the CLI prints them as one line and exits non-zero; anything
else also gets its traceback, since that one is ours to fix.
"""

from __future__ import annotations

import contextlib
import gzip
import pickle
import zlib


class UserError(ValueError):
    """Bad input; the message is one line naming the problem and the fix."""


class DatasetError(RuntimeError):
    """A dataset could not be loaded; the message is one line naming the problem and the fix."""


def user_errors() -> tuple[type[BaseException], ...]:
    """ValueError covers bad config values (validate, make_adapter, registries); OSError covers
    unwritable folders and unreadable files; the rest are what a corrupt data file raises."""
    return (ValueError, DatasetError, OSError, EOFError, pickle.UnpicklingError, gzip.BadGzipFile, zlib.error)


# exit codes of `frozen-bench run`: 2 = bad input, 1 = a run failed unexpectedly, 130 = Ctrl-C
EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


def one_line(exc: BaseException) -> str:
    """The exception as one line (whitespace squeezed); the type name is kept for exceptions
    whose message alone would not say what went wrong (OSError, UnpicklingError, ...)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    msg = " ".join(str(exc).split())
    if msg and (type(exc) in (ValueError, UserError) or isinstance(exc, DatasetError)):
        return msg
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, user_errors())


@contextlib.contextmanager
def explain_dataset_errors(name: str | None):
    """Turn what a truncated .gz, a bad pickle or an unreadable wav raises while a dataset loads
    into one ``DatasetError`` line that names the dataset and the fix."""
    try:
        yield
    except DatasetError:
        raise
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError, zlib.error) as e:
        raise DatasetError(f"dataset={name}: cannot read its files ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                           f"delete the damaged files and download or place them again") from e
