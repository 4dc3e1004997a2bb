"""Errors that fishgate reports to people.

Every error a user can cause (bad config, unreadable video, corrupt model, ...) is a
`FishgateError`; the CLI turns it into one line and an exit status in one place.
Each subclass also inherits the built-in exception it resembles, so callers that only
know Python's hierarchy (``except ValueError``) still catch it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1  # a failure of fishgate itself, or a check that did not pass
    BAD_INPUT = 2  # the user's input is wrong: config, file, model, arguments
    INTERRUPTED = 130


class FishgateError(Exception):
    """Base of all errors fishgate reports as a message rather than a traceback."""

    exit_status: ExitStatus = ExitStatus.BAD_INPUT


class ConfigError(FishgateError, ValueError):
    """The site config is malformed; the message names the key path."""


class SourceError(FishgateError, OSError):
    """A frame source cannot be opened or read (missing file, corrupt video, camera gone)."""


class AnnotationError(FishgateError, ValueError):
    """A ground-truth annotation file is malformed; the message names file and line."""


class PassageLogError(FishgateError, ValueError):
    """A passage log (JSON Lines) is malformed; the message names file and line."""


class ModelError(FishgateError, ValueError):
    """A species model or its card is missing, corrupt or inconsistent."""


class StoreError(FishgateError, OSError):
    """The local store cannot be opened or written (disk full, damaged file, permissions)."""

    exit_status = ExitStatus.ERROR


class DuplicateRecord(StoreError):
    """A record with this id is stored already: retrying cannot help (a bug, not the disk)."""


class GateError(FishgateError, OSError):
    """The gate's hardware cannot be reached (no GPIO pin factory on this machine)."""
