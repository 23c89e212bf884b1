"""The one exception type the CLI turns into a single clear line instead of a traceback."""


class AlgosynthError(Exception):
    """A user-facing error: the message says what was wrong and what to do instead."""
