"""The prepare cache holds data, never code: a shared run directory cannot run anything."""

from __future__ import annotations

import io
import json
import pickle
import sqlite3
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from multisc.experiment import safe_cache
from multisc.experiment.store import STORE_FILE
from multisc.experiment.sweep import run_sweep
from multisc.schemes.bpg_ldpc import BpgPrepared, Encoding
from multisc.schemes.deep_jscc import JsccPrepared
from multisc.schemes.semantic import SemanticPrepared
from multisc.schemes.slices import SlicePayload


def _photo(photo) -> Image.Image:
    return photo.resize((40, 30))


def test_every_prepared_type_comes_back_equal(photo):
    image = _photo(photo)
    values = [
        SemanticPrepared(
            reference=image,
            texts=("a dog", "é \x00 \ufffd"),
            positions=("top left", "top right"),
            slice_payload=SlicePayload(image.resize((10, 8)), (20, 16), stream=b"\x00\xff"),
            class_name="dog",
            found=True,
            box=(1, 2, 30, 20),
            timings={"segment": 0.5, "caption": float("inf")},
        ),
        BpgPrepared(image, 4096, {2048: Encoding(b"hevc", 12, 0.5), 1024: None}),
        JsccPrepared(image, (32, 24), 576),
    ]
    for value in values:
        back = safe_cache.loads(safe_cache.dumps(value))
        assert type(back) is type(value)
        for name in value.__dataclass_fields__:
            a, b = getattr(value, name), getattr(back, name)
            if isinstance(a, Image.Image):
                assert a.tobytes() == b.tobytes() and a.size == b.size and a.mode == b.mode
            elif isinstance(a, SlicePayload):
                assert a.image.tobytes() == b.image.tobytes()
                assert (a.size, a.stream) == (b.size, b.stream)
            else:
                assert a == b, name


def test_types_outside_the_allow_list_are_refused_both_ways():
    class Other:
        pass

    with pytest.raises(TypeError, match="cannot store"):
        safe_cache.dumps(Other())
    forged = io.BytesIO()
    with zipfile.ZipFile(forged, "w") as archive:
        entry = {"__dataclass__": "subprocess.Popen", "fields": {"args": "touch x"}}
        archive.writestr("entry.json", json.dumps({"schema": 1, "value": entry}))
    with pytest.raises(safe_cache.CacheFormatError, match="not allowed"):
        safe_cache.loads(forged.getvalue())
    with pytest.raises(safe_cache.CacheFormatError):
        safe_cache.loads(pickle.dumps({"a": 1}))


class _Payload:
    """Pickled, this creates a file when loaded: a stand-in for `os.system`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.slow
def test_a_planted_pickle_never_runs_and_the_entry_is_recomputed(fast_config, tmp_path, caplog):
    config, _ = fast_config(out="shared")
    first = run_sweep(config, report=None)
    entries = sorted((Path(config.out) / "cache" / "prepare").rglob("*.zip"))
    assert entries, "the sweep cached its prepares"
    marker = tmp_path / "payload-ran"
    for entry in entries:  # where an older version kept its pickles
        entry.with_suffix(".pkl").write_bytes(pickle.dumps(_Payload(marker)))
        entry.unlink()
    with sqlite3.connect(Path(config.out) / STORE_FILE) as db:
        db.execute("DELETE FROM results WHERE rowid = (SELECT MIN(rowid) FROM results)")
    with caplog.at_level("WARNING"):
        resumed = run_sweep(config, report=None)
    assert not marker.exists()
    assert resumed.new_rows == 1 and resumed.rows == first.rows
    assert "ignoring pickled prepare caches" in caplog.text
    assert sorted((Path(config.out) / "cache" / "prepare").rglob("*.zip"))  # recomputed


def _entry_bytes() -> bytes:
    image = Image.new("RGB", (12, 9), (200, 30, 60))
    value = SemanticPrepared(
        reference=image, texts=("a dog",), positions=("whole",), slice_payload=None,
        class_name="dog", found=True, box=(1, 2, 10, 8), timings={"caption": 0.5},
    )  # fmt: skip
    return safe_cache.dumps(value)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    truncate=st.one_of(st.none(), st.integers(0, 10**6)),
)
@example(cuts=[(665, 1)], truncate=None)  # a cut deflate stream: zipfile raised EOFError
def test_any_damaged_entry_is_refused_or_read_never_anything_else(cuts, truncate):
    """Bytes changed anywhere in an entry, or the entry cut short: it reads back as an
    allowed value, or ``CacheFormatError`` (prepared again); no other exception, no hang."""
    data = bytearray(_entry_bytes())
    for where, byte in cuts:
        data[where % len(data)] = byte
    if truncate is not None:
        data = data[: truncate % (len(data) + 1)]
    try:
        value = safe_cache.loads(bytes(data))
    except safe_cache.CacheFormatError:
        return
    assert type(value).__name__ in {t.__name__ for t in safe_cache._allowed().values()} | {
        "dict", "list", "str", "int", "float", "bool", "NoneType", "tuple", "bytes",
    }  # fmt: skip
