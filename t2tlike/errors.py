"""The one exception type for user mistakes.

Library code raises ``UserError`` (or a subclass) when the cause is something the user
typed or provided: an unknown name, a malformed hparams string, a missing file. The CLIs
in bin/ catch it, print its message on one line and exit with status 2. Anything else is
a bug in t2tlike and keeps its traceback.
"""
import difflib


class UserError(Exception):
    """A mistake the user can fix; the message says what was expected and how to fix it."""


class UnknownNameError(UserError, KeyError):
    """A registry or hparams lookup of a name that does not exist."""

    def __str__(self):  # KeyError would otherwise quote the message.
        return str(self.args[0]) if self.args else ""


def did_you_mean(name, candidates, limit=3):
    """Returns ' Did you mean: a, b?' naming up to `limit` close candidates, or ''."""
    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=limit, cutoff=0.6)
    if not close:
        lowered = name.lower()
        close = [c for c in candidates if lowered and lowered in c.lower()][:limit]
    return f" Did you mean: {', '.join(close)}?" if close else ""


def first_line(error):
    """The first line of an exception's message (its type's name when it has none): what
    a one-line report of a TensorFlow or OS error keeps."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class Stopped(Exception):
    """A run stopped on request (a signal) after keeping its work. The CLIs print the
    message and exit with `exit_status`: the shell's 128 + the signal's number (143 for
    SIGTERM, 130 for SIGINT)."""

    def __init__(self, message, exit_status):
        super().__init__(message)
        self.exit_status = exit_status
