"""Package attributes imported on first use (PEP 562), so that importing a light part of a
package (its names, its specs) does not load torch or Sionna through the package's
``__init__``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: attribute ``name`` comes from the
    submodule ``where[name]`` (a name relative to ``package``), imported when first read."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value  # later reads skip this function
        return value

    return __getattr__
