"""A cache format that cannot run code: what ``prepare`` returns, as JSON + PNG + raw bytes.

Run directories are shared (to compare results, to resume elsewhere, on the shared
filesystem multi-node Ray needs), so whatever they hold is data from someone else. Python's
pickle executes code while loading; this format only ever rebuilds:

- ``None``, booleans, numbers, strings, lists; tuples and dicts (any JSON-able keys) tagged;
- ``bytes`` (HEVC streams) and PIL images (lossless PNG) as separate members of a zip;
- numpy arrays and torch tensors as ``.npy`` (read with ``allow_pickle=False``);
- dataclasses of an explicit allow-list (the schemes' prepared results, a segmentation
  stage's result, and those a scheme's registration names in ``prepared_types``), by
  their fields.

Anything else is refused when writing (a new prepared type must be added to the
allow-list); anything unexpected when reading (unknown class, bad member, another schema
version) makes ``loads`` raise ``CacheFormatError``, and the caller recomputes.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
import zlib
from typing import Any

import numpy as np
from PIL import Image

SCHEMA = 1
ENTRY = "entry.json"


class CacheFormatError(ValueError):
    """A cache entry that is not one this version wrote (or not one at all)."""


def _allowed() -> dict[str, type]:
    """Qualified name -> class for the dataclasses an entry may hold."""
    from multisc.schemes.bpg_ldpc import BpgPrepared, Encoding
    from multisc.schemes.catalog import scheme_specs
    from multisc.schemes.deep_jscc import JsccPrepared
    from multisc.schemes.semantic import SemanticPrepared
    from multisc.schemes.slices import SlicePayload
    from multisc.transmitter.segmentation import Segmentation

    classes = [SemanticPrepared, SlicePayload, BpgPrepared, Encoding, JsccPrepared, Segmentation]
    for spec in scheme_specs().values():  # plugins name theirs in their registration
        classes.extend(spec.prepared_types)
    return {f"{c.__module__}.{c.__qualname__}": c for c in classes}


def dumps(value: Any) -> bytes:
    """``value`` as a zip archive: ``entry.json`` (the structure) and binary members."""
    allowed = {cls: name for name, cls in _allowed().items()}
    blobs: dict[str, bytes] = {}

    def blob(data: bytes, suffix: str) -> str:
        name = f"b{len(blobs)}{suffix}"
        blobs[name] = data
        return name

    def encode(item: Any) -> Any:
        if item is None or isinstance(item, bool | int | float | str):
            return item
        if isinstance(item, list):
            return [encode(v) for v in item]
        if isinstance(item, tuple):
            return {"__tuple__": [encode(v) for v in item]}
        if isinstance(item, dict):
            return {"__dict__": [[encode(k), encode(v)] for k, v in item.items()]}
        if isinstance(item, bytes | bytearray):
            return {"__bytes__": blob(bytes(item), ".bin")}
        if isinstance(item, Image.Image):
            buffer = io.BytesIO()
            item.save(buffer, format="PNG")
            return {"__png__": blob(buffer.getvalue(), ".png")}
        if isinstance(item, np.ndarray) or type(item).__module__ == "torch":
            array = item.detach().cpu().numpy() if hasattr(item, "detach") else item
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
            kind = "__tensor__" if hasattr(item, "detach") else "__ndarray__"
            return {kind: blob(buffer.getvalue(), ".npy")}
        if dataclasses.is_dataclass(item) and type(item) in allowed:
            fields = {f.name: encode(getattr(item, f.name)) for f in dataclasses.fields(item)}
            return {"__dataclass__": allowed[type(item)], "fields": fields}
        raise TypeError(f"the prepare cache cannot store a {type(item).__qualname__}")

    entry = {"schema": SCHEMA, "value": encode(value)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(ENTRY, json.dumps(entry))
        for name, data in blobs.items():
            archive.writestr(name, data)
    return buffer.getvalue()


#: bounds of an entry, checked before anything is read whole (a cache entry holds one
#: working image, at most 1024 pixels on its longer side, its texts and streams)
MAX_MEMBERS = 4096
MAX_TOTAL_BYTES = 256 << 20
MAX_ENTRY_JSON = 16 << 20
MAX_STRING = 100_000


def _member_sizes(archive: zipfile.ZipFile) -> dict[str, int]:
    """Each member's uncompressed size, from the central directory, refused over the
    bounds before any member is inflated (a 4 MB zip can claim to inflate to 4 GiB)."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise CacheFormatError(f"{len(infos)} members, over {MAX_MEMBERS}")
    sizes = {info.filename: info.file_size for info in infos}
    if sum(sizes.values()) > MAX_TOTAL_BYTES:
        raise CacheFormatError(f"members inflate to {sum(sizes.values()):,} bytes")
    if sizes.get(ENTRY, 0) > MAX_ENTRY_JSON:
        raise CacheFormatError(f"{ENTRY} is {sizes[ENTRY]:,} bytes")
    return sizes


def _load_npy(raw: bytes) -> np.ndarray:
    """``np.load`` after checking that the header's shape and dtype describe exactly the
    bytes that follow (a header can claim 745 GiB)."""
    from numpy.lib import format as npy

    stream = io.BytesIO(raw)
    try:
        version = npy.read_magic(stream)
        reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = reader(stream)
    except (ValueError, SyntaxError) as exc:
        raise CacheFormatError(f"bad .npy header ({exc})") from exc
    if dtype.hasobject:
        raise CacheFormatError("an object array")
    count = 1
    for extent in shape:
        count *= int(extent)
    if count * dtype.itemsize != len(raw) - stream.tell():
        raise CacheFormatError(f"a .npy header claiming {shape} {dtype} over {len(raw)} bytes")
    return np.load(io.BytesIO(raw), allow_pickle=False)


#: what reading a damaged or crafted zip member raises (a bad CRC, a corrupt or cut deflate
#: stream, an unknown compression method, the encryption flag): never a reason to fail a pair
_UNREADABLE = (
    zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError, EOFError,
    ValueError,
)  # fmt: skip


def loads(data: bytes) -> Any:
    """Rebuild what ``dumps`` wrote; ``CacheFormatError`` for anything else,
    including anything over the bounds above (checked before it is read whole), a PNG
    member that is not a PNG, an image over ``multisc.imaging.MAX_PIXELS``, a string
    over ``MAX_STRING`` characters, or nesting too deep to rebuild."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        sizes = _member_sizes(archive)
        if ENTRY not in sizes:
            raise CacheFormatError(f"no {ENTRY}")
        entry = json.loads(archive.read(ENTRY))
    except (*_UNREADABLE, KeyError, RecursionError) as exc:
        if isinstance(exc, CacheFormatError):
            raise
        raise CacheFormatError(f"not a cache entry ({type(exc).__name__})") from exc
    if not isinstance(entry, dict) or entry.get("schema") != SCHEMA:
        raise CacheFormatError("written by another version of multisc")
    allowed = _allowed()

    def member(name: Any) -> bytes:
        if not isinstance(name, str) or name == ENTRY:
            raise CacheFormatError(f"bad member reference {name!r}")
        try:
            return archive.read(name)
        except KeyError as exc:
            raise CacheFormatError(f"missing member {name!r}") from exc
        except _UNREADABLE as exc:
            raise CacheFormatError(f"member {name!r} cannot be read ({exc})") from exc

    def decode(item: Any) -> Any:
        if isinstance(item, str) and len(item) > MAX_STRING:
            raise CacheFormatError(f"a string of {len(item):,} characters")
        if item is None or isinstance(item, bool | int | float | str):
            return item
        if isinstance(item, list):
            return [decode(v) for v in item]
        if not isinstance(item, dict) or len(item) not in (1, 2):
            raise CacheFormatError(f"unexpected value {str(item)[:80]!r}")
        if "__tuple__" in item:
            return tuple(decode(v) for v in item["__tuple__"])
        if "__dict__" in item:
            return {decode(k): decode(v) for k, v in item["__dict__"]}
        if "__bytes__" in item:
            return member(item["__bytes__"])
        if "__png__" in item:
            from multisc.errors import InvalidInputError
            from multisc.imaging import decode_png

            try:  # PNG only: no other of Pillow's decoders ever sees these bytes
                return decode_png(member(item["__png__"]), "a cache entry's image")
            except InvalidInputError as exc:
                raise CacheFormatError(str(exc)) from exc
        if "__ndarray__" in item or "__tensor__" in item:
            raw = member(item.get("__ndarray__") or item.get("__tensor__"))
            array = _load_npy(raw)
            if "__tensor__" in item:
                import torch

                return torch.from_numpy(array)
            return array
        if "__dataclass__" in item:
            cls = allowed.get(item["__dataclass__"])
            if cls is None:
                raise CacheFormatError(f"class {item['__dataclass__']!r} is not allowed")
            fields = {f.name for f in dataclasses.fields(cls)}
            values = item.get("fields", {})
            if not isinstance(values, dict) or set(values) - fields:
                raise CacheFormatError(f"fields of {item['__dataclass__']} do not match")
            return cls(**{k: decode(v) for k, v in values.items()})
        raise CacheFormatError(f"unexpected tag {next(iter(item))!r}")

    try:
        return decode(entry["value"])
    except RecursionError as exc:
        raise CacheFormatError("nested too deep") from exc
    except (TypeError, ValueError, OSError) as exc:
        if isinstance(exc, CacheFormatError):
            raise
        raise CacheFormatError(f"damaged entry ({exc})") from exc
