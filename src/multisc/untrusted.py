"""Reading data someone else may have written (a mirror's config, a shared cache, a run
directory): one JSON reader whose every failure is a ``ValueError``."""

from __future__ import annotations

import json
from typing import Any


def json_loads(text: str | bytes) -> Any:
    """``json.loads``, with nesting too deep for the parser (``[[[[...`` 100,000 deep) a
    ``ValueError`` like any other malformed JSON rather than a ``RecursionError``.

    >>> json_loads("[" * 100_000 + "]" * 100_000)
    Traceback (most recent call last):
    ...
    ValueError: JSON nested too deeply to read
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None
