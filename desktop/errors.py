"""Errors a person can cause or fix, each with a one-line message and a hint.

The CLI prints them as ``parley: error: MESSAGE (HINT)`` and exits 2; the window
shows them in a banner. Tracebacks belong in the log file, never in front of
the user.
"""

from __future__ import annotations


class ParleyError(Exception):
    """A failure the user can understand and usually fix."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint on a single line, as the CLI prints them."""
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())


class ModelError(ParleyError):
    """A model file is missing, broken, or not usable for its role."""


class AudioError(ParleyError):
    """Audio input could not be read, or held nothing to answer."""


class OutputError(ParleyError):
    """A result could not be written where the user asked."""


class ConfigError(ParleyError):
    """The settings file could not be read or holds a bad value."""


class Cancelled(ParleyError):  # noqa: N818 - a stop, not an error to the user
    """The user stopped the work; not a failure to report loudly."""

    exit_code = 130
