"""A run config's validation errors as one line each: the key as the config or the flag
names it, the value given, and the closest key for a typo."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from multisc.errors import InvalidInputError
from multisc.experiment.settings import ChannelConfig, JsccConfig, OptionsConfig


def _closest(parts: list[str], root: type[BaseModel]) -> str:
    """ "; did you mean 'snr_db'?" for a mistyped key (the keys of the block it is in;
    ``root`` the whole config's model)."""
    import difflib

    blocks = {"options": OptionsConfig, "channel": ChannelConfig, "jscc": JsccConfig}
    model = blocks.get(parts[0], root) if len(parts) > 1 else root
    known = [name for name in model.model_fields if name != "schemes" or model is root]
    if model is OptionsConfig:  # a block under options: names a scheme
        from multisc.schemes.catalog import scheme_names

        known += list(scheme_names())
    match = difflib.get_close_matches(parts[-1], known, n=1, cutoff=0.6) if parts else []
    if not match and parts and model is root:  # "snrs" -> snr_db: by prefix too
        match = [name for name in known if name.startswith(parts[-1][:3])][:1]
    return f"; did you mean {match[0]!r}?" if match else ""


#: the flag of `multisc run` that sets each config key, where it is not ``--key-name``
_FLAGS = {"snr_db": "--snr", "ray_address": "--address", "download": "--no-download",
          "channel": "the channel flags"}  # fmt: skip


def _flag(key: str) -> str:
    return _FLAGS.get(key, "--" + key.replace("_", "-"))


#: pydantic errors whose message says what may be, not what was given
_BOUNDED = (
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "literal_error",
    "int_parsing", "float_parsing", "int_from_float", "string_type", "int_type", "float_type",
)  # fmt: skip


def _explain(
    exc: ValidationError, where: str, root: type[BaseModel], flags: set[str] | None = None
) -> InvalidInputError:
    """One line for every problem pydantic found in a config of model ``root``; a key set
    by a command-line flag is named by its flag (``--schemes: unknown scheme 'multisk'
    ...``)."""
    flags = flags or set()
    lines: list[str] = []
    errors = exc.errors()
    # a union (one channel or a list of them) reports "not a list" beside the real error
    shape = ("list_type", "model_type", "dict_type", "model_attributes_type")
    if any(e["type"] not in shape for e in errors):
        errors = [e for e in errors if e["type"] not in shape]
    for error in errors:
        # pydantic names the branches of a union (``function-after[...]``, ``list[...]``):
        # the key is what a user wrote
        parts = [
            str(part)
            for part in error["loc"]
            if not str(part).startswith(("function-", "list[", "tagged-union["))
        ]
        location = ".".join(parts)
        if parts and parts[0] == "channel" and "channel" in flags and len(parts) > 1:
            location = _flag(parts[-1])  # --coherence, --csi: the flag that set it
        elif parts and parts[0] in flags:
            location = ".".join([_flag(parts[0]), *parts[1:]])
        message = error["msg"].removeprefix("Value error, ")
        given = error.get("input")
        if error["type"] in _BOUNDED and not isinstance(given, dict | list):
            from multisc.errors import shown

            message = f"{message} (got {shown(given)})"  # what was given, beside what may be
        if error["type"] == "extra_forbidden":
            line = f"unknown key {location or '(top level)'!r}" + _closest(parts, root)
        elif not location or message.startswith(location):
            line = message  # the message names its key already (options: "option steps: ...")
        else:
            line = f"{location}: {message}"
        if line not in lines:
            lines.append(line)
    return InvalidInputError(f"invalid config {where}: " + "; ".join(lines))
