"""HEVC intra coding, the codec inside BPG, through libheif (pillow-heif, x265 encoder).

What is sent (and counted) is the compact stream of ``multisc.codecs.hevc_stream``:
a BPG-sized header (size, chroma format, bit depth: 3-5 bytes) and the HEVC NAL units,
not libheif's HEIF file, which carries about 300 bytes of container more. The receiver
rebuilds a HEIF file from it and decodes that to the very pixels the file would give.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pillow_heif
from PIL import Image

from multisc.codecs.hevc_stream import to_compact, to_heif
from multisc.errors import BudgetTooSmallError, DecodeFailure, InvalidInputError
from multisc.imaging import ImageLike, to_rgb

MIN_QUALITY = 0
MAX_QUALITY = 100
CHROMAS = ("420", "444")

# libheif and libde265 are C code: a corrupted stream can crash or hang the process that
# decodes it. Untrusted streams are therefore decoded in a child Python process with a
# timeout; it imports only pillow-heif and numpy, so it starts in a fraction of a second.
_CHILD_DECODER = """
import io, sys
import numpy as np, pillow_heif
data = sys.stdin.buffer.read()
heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
array = np.ascontiguousarray(np.asarray(heif)[..., :3], dtype=np.uint8)
sys.stdout.buffer.write(np.array(array.shape[:2], dtype=">u4").tobytes() + array.tobytes())
"""


#: streams remembered by (pixels' digest, size, quality, chroma): a budget sweep bisects
#: through the same qualities of the same image once per budget; each is encoded once
_ENCODED: OrderedDict[tuple[str, tuple[int, int], int, str], bytes] = OrderedDict()
_ENCODED_LIMIT = 512


def encode(image: ImageLike, quality: int, chroma: str = "420") -> bytes:
    """Encode ``image`` as HEVC intra at ``quality`` in [0, 100]: the compact stream.
    x265 is deterministic, so the last few hundred streams are remembered and a repeated
    (image, quality, chroma) is not encoded again.

    :param chroma: ``"420"`` (BPG's default) or ``"444"``.
    :output: the stream, ``8 * len(...)`` bits.
    """
    rgb = to_rgb(image)
    key = (hashlib.sha256(rgb.tobytes()).hexdigest(), rgb.size, int(quality), str(chroma))
    if key in _ENCODED:
        _ENCODED.move_to_end(key)
        return _ENCODED[key]
    stream = to_compact(encode_heif(rgb, quality, chroma))
    _ENCODED[key] = stream
    if len(_ENCODED) > _ENCODED_LIMIT:
        _ENCODED.popitem(last=False)
    return stream


def encode_heif(image: ImageLike, quality: int, chroma: str = "420") -> bytes:
    """Encode ``image`` as HEVC intra in a HEIF file (what libheif writes), e.g. to save it."""
    if not MIN_QUALITY <= int(quality) <= MAX_QUALITY:
        raise InvalidInputError(f"HEVC quality must lie in [0, 100], got {quality!r}")
    if chroma not in CHROMAS:
        raise InvalidInputError(f"unknown chroma {chroma!r}: choose one of {', '.join(CHROMAS)}")
    rgb = to_rgb(image)
    buffer = io.BytesIO()
    pillow_heif.from_pillow(rgb).save(buffer, quality=int(quality), chroma=int(chroma))
    return buffer.getvalue()


def decode(data: bytes, *, isolate: bool = True, timeout_s: float = 20.0) -> Image.Image:
    """Decode a compact stream from [encode][multisc.codecs.hevc.encode] to an RGB image of the
    encoded size.

    :param isolate: decode in a child process (for streams that went through a channel);
        ``False`` decodes in this process, for streams known to be intact.
    :raises DecodeFailure: the stream is corrupt, the decoder crashed or timed out.
    """
    if not data:
        raise DecodeFailure("empty HEVC stream")
    data = to_heif(data)
    if not isolate:
        try:
            heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
            return Image.fromarray(np.asarray(heif)[..., :3].copy())
        except Exception as exc:  # libheif raises a variety of errors on bad input
            raise DecodeFailure(f"HEVC stream could not be decoded: {exc}") from exc
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD_DECODER],
            input=data,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DecodeFailure(f"HEVC decoder did not finish within {timeout_s:g} s") from exc
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise DecodeFailure(
            f"HEVC stream could not be decoded (exit {done.returncode}): "
            f"{reason[-1] if reason else 'no message'}"
        )
    out = done.stdout
    height, width = (int(v) for v in np.frombuffer(out[:8], dtype=">u4"))
    pixels = np.frombuffer(out[8:], dtype=np.uint8)
    if pixels.size != height * width * 3:
        raise DecodeFailure("HEVC decoder returned a truncated image")
    return Image.fromarray(pixels.reshape(height, width, 3))


def encode_within(image: ImageLike, max_bits: int, chroma: str = "420") -> tuple[bytes, int]:
    """The highest quality whose stream fits ``max_bits``, found by bisection.

    Stream size grows with quality (monotone in practice; the search keeps the best
    quality it actually saw fit, so the result never exceeds the budget).

    :output: ``(stream, quality)`` with ``8 * len(stream) <= max_bits``.
    :raises BudgetTooSmallError: even quality 0 does not fit.
    """
    rgb = to_rgb(image)
    lowest = encode(rgb, MIN_QUALITY, chroma)
    if 8 * len(lowest) > max_bits:
        raise BudgetTooSmallError(
            f"HEVC needs at least {8 * len(lowest)} bits for this {rgb.width}x{rgb.height} "
            f"image, the budget is {max_bits}"
        )
    best, best_quality = lowest, MIN_QUALITY
    lo, hi = MIN_QUALITY + 1, MAX_QUALITY
    while lo <= hi:  # about 7 encodes
        mid = (lo + hi) // 2
        stream = encode(rgb, mid, chroma)
        if 8 * len(stream) <= max_bits:
            best, best_quality, lo = stream, mid, mid + 1
        else:
            hi = mid - 1
    return best, best_quality
