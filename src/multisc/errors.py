"""The project's exception types.

Every error a user can cause (bad input, a missing model, an unavailable device)
is a ``MultiscError``. Its message says what was wrong, what was expected and
what to do; the CLI prints it on one line, without a traceback.
"""

from __future__ import annotations

from typing import Any


class MultiscError(Exception):
    """Base class of every error multisc raises on purpose."""


class InvalidInputError(MultiscError, ValueError):
    """An argument, file or setting has a value multisc cannot use."""


class DeviceUnavailableError(MultiscError, RuntimeError):
    """The requested compute device (e.g. ``cuda``) does not exist on this machine."""


def printable(text: str) -> str:
    """``text`` safe to write as UTF-8: a file name's undecodable bytes (kept by Python as
    lone surrogates) shown as ``\\xNN`` escapes instead of failing the write.

    >>> printable("photo-\\udcff.png")
    'photo-\\\\xff.png'
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def choices_error(what: str, value: object, choices: list | tuple) -> InvalidInputError:
    """Build the error for a value that is not one of a fixed set of choices.

    >>> str(choices_error("modulation", "8psk", ["bpsk", "qpsk"]))
    "unknown modulation '8psk': choose one of bpsk, qpsk"
    """
    listed = ", ".join(map(str, choices))
    return InvalidInputError(f"unknown {what} {value!r}: choose one of {listed}")


def did_you_mean(value: object, choices: list | tuple) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``value``, else ``""``.

    >>> did_you_mean("ssmi", ["psnr", "ssim"])
    "; did you mean 'ssim'?"
    """
    import difflib

    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class ModelNotAvailableError(MultiscError, RuntimeError):
    """Pretrained weights are not on this machine and cannot be fetched."""


class DecodeFailure(MultiscError):
    """A received stream could not be decoded (a normal outcome of a noisy channel)."""


class BudgetTooSmallError(MultiscError, ValueError):
    """Even the lowest quality of a codec does not fit the bit budget."""


class ModelFileError(ModelNotAvailableError):
    """A component's file is missing from its repository or directory, truncated, or not
    what it should be (a ``.bin`` that is not a state dict, a processor that does not match
    its model)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that the same clean-up runs."""


class RunInterrupted(MultiscError):
    """A run stopped by Ctrl-C (SIGINT) or SIGTERM between two stored rows; the store
    holds whole rows only, and the same command resumes it.

    Attributes:
        exit_code: 130 for SIGINT, 143 for SIGTERM (128 + the signal's number).
    """

    def __init__(self, stored: int, total: int, terminated: bool = False) -> None:
        self.stored, self.total = stored, total
        self.exit_code = 143 if terminated else 130
        super().__init__(f"interrupted at {stored}/{total} rows; run the same command to resume")


class TrainingInterrupted(MultiscError):
    """Captioner training stopped by Ctrl-C (SIGINT) or SIGTERM: the steps done are in a
    checkpoint, and the same command resumes from it.

    Attributes:
        exit_code: 130 for SIGINT, 143 for SIGTERM (128 + the signal's number).
    """

    def __init__(self, step: int, total: int, checkpoint: str, terminated: bool = False) -> None:
        self.step, self.total = step, total
        self.exit_code = 143 if terminated else 130
        super().__init__(
            f"interrupted at step {step}/{total}; saved {checkpoint}: run the same command "
            "to resume"
        )


def shown(value: Any, limit: int = 60) -> str:
    """``value`` as text for a message, cut to ``limit`` characters (an integer of
    thousands of digits has no ``repr`` at all)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    if isinstance(value, list | tuple):
        return (
            "[" + ", ".join(shown(v, 20) for v in value[:8]) + (", ...]" if len(value) > 8 else "]")
        )
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
