"""The compact HEVC stream: what BPG would send, not a HEIF file.

libheif writes a HEIF file: about 300-400 bytes of ISO-BMFF boxes (``ftyp``, ``meta``
with ``hdlr``/``iloc``/``iinf``/``pitm``/``iprp``, the 23-byte ``hvcC`` record header,
4-byte NAL lengths) around the HEVC parameter sets and slice data. BPG sends a header of
a few bytes instead. So do we: ``to_compact`` keeps only

=========================  ==========================================================
``ue7(width)``             display width in pixels (BPG's 7-bit varint)
``ue7(height)``            display height
``u8 flags``               bits 0-1 chroma_format_idc, bits 2-4 bit depth - 8, bit 5:
                           the colour description is libheif's default (BT.601 matrix,
                           sRGB transfer and primaries, full range); else 7 bytes follow
``[7 bytes]``              ``colr nclx``: primaries, transfer, matrix (u16 each), range
``[ue7 w, ue7 h]``         bit 6 of flags: the coded size, when it is not the display
                           size rounded up to even (libheif pads tiny images to 64x64)
``ue7(len) NAL`` ...       every NAL unit (VPS, SPS, PPS, slices), length-prefixed
=========================  ==========================================================

and ``to_heif`` rebuilds a HEIF file from it: the ``hvcC`` header from the SPS's
profile_tier_level and the flags, ``ispe`` as the even-rounded coded size, ``clap`` for
odd sizes, ``pixi`` from the bit depth. Decoding the rebuilt file gives the very pixels
the original file gives (tests/codecs/test_hevc.py checks it on every sample photo).

The VPS (24 bytes) still travels; BPG rebuilds it from its own header. Everything here
parses untrusted bytes (a stream that went through a channel): any malformed input
raises ``DecodeFailure``, never anything else.
"""

from __future__ import annotations

import struct

from multisc.errors import DecodeFailure

#: libheif's colour description for RGB input: primaries 1 (BT.709/sRGB), transfer 13
#: (sRGB), matrix 6 (BT.601), full range
DEFAULT_NCLX = bytes.fromhex("0001000d000680")
PARAMETER_SET_TYPES = (32, 33, 34, 39)  # VPS, SPS, PPS, prefix SEI: they go in hvcC
SPS_TYPE = 33
MAX_SIDE = 1 << 16


# -- reading the HEIF file libheif wrote ------------------------------------------------


def _boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """ISO-BMFF boxes between ``start`` and ``end``: type -> (payload start, payload end)."""
    found: dict[bytes, tuple[int, int]] = {}
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8 : offset + 16])[0], 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise DecodeFailure(f"HEIF box {kind!r} overruns its parent")
        found.setdefault(kind, (offset + header, offset + size))
        offset += size
    return found


def _child(data: bytes, parent: tuple[int, int], path: list[bytes]) -> tuple[int, int]:
    # boxes whose payload starts with more than child boxes: FullBox version/flags, counts
    skip = {b"meta": 4, b"iinf": 6}
    span = parent
    for kind in path:
        children = _boxes(data, span[0], span[1])
        if kind not in children:
            raise DecodeFailure(f"HEIF file has no {kind.decode()} box")
        start, end = children[kind]
        span = (start + skip.get(kind, 0), end)
    return span


def to_compact(heif: bytes) -> bytes:
    """The compact stream of a single-image HEIF file written by libheif (see module doc)."""
    top = (0, len(heif))
    ipco = _child(heif, top, [b"meta", b"iprp", b"ipco"])
    props = _boxes(heif, *ipco)
    hvcc = heif[slice(*props[b"hvcC"])]
    colr = heif[slice(*props[b"colr"])] if b"colr" in props else b"nclx" + DEFAULT_NCLX
    if b"grid" in heif[slice(*_child(heif, top, [b"meta", b"iinf"]))]:
        raise DecodeFailure("HEIF grid images (tiles) have no compact form")
    ispe = heif[slice(*props[b"ispe"])]
    coded = width, height = struct.unpack(">II", ispe[4:12])
    if b"clap" in props:
        clap = struct.unpack(">8i", heif[slice(*props[b"clap"])])
        width, height = clap[0] // clap[1], clap[2] // clap[3]
    chroma, depth = hvcc[16] & 0x03, (hvcc[17] & 0x07) + 8
    nclx = colr[4:11]
    padded = coded != _even(width, height)
    flags = chroma | (depth - 8) << 2 | (nclx == DEFAULT_NCLX) << 5 | padded << 6
    out = bytearray(_ue7(width) + _ue7(height) + bytes([flags]))
    if nclx != DEFAULT_NCLX:
        out += nclx
    if padded:
        out += _ue7(coded[0]) + _ue7(coded[1])
    for nal in _hvcc_nals(hvcc) + _mdat_nals(heif):
        out += _ue7(len(nal)) + nal
    return bytes(out)


def _even(width: int, height: int) -> tuple[int, int]:
    return width + (width & 1), height + (height & 1)


def _hvcc_nals(hvcc: bytes) -> list[bytes]:
    nals, offset = [], 23
    for _ in range(hvcc[22]):
        count = struct.unpack(">H", hvcc[offset + 1 : offset + 3])[0]
        offset += 3
        for _ in range(count):
            length = struct.unpack(">H", hvcc[offset : offset + 2])[0]
            nals.append(hvcc[offset + 2 : offset + 2 + length])
            offset += 2 + length
    return nals


def _mdat_nals(heif: bytes) -> list[bytes]:
    start, end = _boxes(heif, 0, len(heif))[b"mdat"]
    nals, offset = [], start
    while offset + 4 <= end:
        length = struct.unpack(">I", heif[offset : offset + 4])[0]
        nals.append(heif[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return nals


# -- rebuilding a HEIF file at the receiver ----------------------------------------------


def _ue7(value: int) -> bytes:
    """BPG's unsigned varint: 7 bits per byte, most significant first, high bit = more."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))


def _read_ue7(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for i in range(5):
        if offset + i >= len(data):
            raise DecodeFailure("compact HEVC stream ends inside a number")
        byte = data[offset + i]
        value = value << 7 | (byte & 0x7F)
        if not byte & 0x80:
            return value, offset + i + 1
    raise DecodeFailure("compact HEVC stream holds a number longer than 5 bytes")


def _box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags), *parts)


def _rbsp(nal: bytes) -> bytes:
    """A NAL unit's payload without its 2-byte header and emulation-prevention bytes."""
    out, zeros = bytearray(), 0
    for byte in nal[2:]:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _hvcc(nals: list[bytes], chroma: int, depth: int) -> bytes:
    sps = next((n for n in nals if len(n) > 2 and (n[0] >> 1) & 0x3F == SPS_TYPE), None)
    if sps is None:
        raise DecodeFailure("compact HEVC stream carries no SPS")
    rbsp = _rbsp(sps)
    if len(rbsp) < 13:
        raise DecodeFailure("compact HEVC stream's SPS is truncated")
    sub_layers, nested = (rbsp[0] >> 1) & 0x07, rbsp[0] & 0x01
    ptl = rbsp[1:13]  # general profile_tier_level: the first 12 bytes of the record
    record = bytearray([1, *ptl[:11], ptl[11]])
    record += struct.pack(
        ">HBBBBH", 0xF000, 0xFC, 0xFC | chroma, 0xF8 | (depth - 8), 0xF8 | (depth - 8), 0
    )
    record.append((sub_layers + 1) << 3 | nested << 2 | 0x03)
    arrays: dict[int, list[bytes]] = {}
    for nal in nals:
        kind = (nal[0] >> 1) & 0x3F
        if kind in PARAMETER_SET_TYPES:
            arrays.setdefault(kind, []).append(nal)
    record.append(len(arrays))
    for kind, members in arrays.items():
        record += struct.pack(">BH", 0x40 | kind, len(members))
        for nal in members:
            record += struct.pack(">H", len(nal)) + nal
    return bytes(record)


def to_heif(stream: bytes) -> bytes:
    """A HEIF file libheif decodes to the pixels the original file gave (module doc).

    :raises DecodeFailure: the stream is not a well-formed compact stream.
    """
    width, offset = _read_ue7(stream, 0)
    height, offset = _read_ue7(stream, offset)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or offset >= len(stream):
        raise DecodeFailure(f"compact HEVC stream states an impossible size {width}x{height}")
    flags = stream[offset]
    offset += 1
    chroma, depth = flags & 0x03, ((flags >> 2) & 0x07) + 8
    if flags & 0x20:
        nclx = DEFAULT_NCLX
    else:
        nclx, offset = stream[offset : offset + 7], offset + 7
    coded = _even(width, height)
    if flags & 0x40:
        coded_width, offset = _read_ue7(stream, offset)
        coded_height, offset = _read_ue7(stream, offset)
        coded = coded_width, coded_height
    if not (width <= coded[0] <= MAX_SIDE and height <= coded[1] <= MAX_SIDE):
        raise DecodeFailure(f"compact HEVC stream states an impossible coded size {coded}")
    nals = []
    while offset < len(stream):
        length, offset = _read_ue7(stream, offset)
        if length < 2 or offset + length > len(stream):
            raise DecodeFailure("compact HEVC stream holds a truncated NAL unit")
        nals.append(stream[offset : offset + length])
        offset += length
    if len(nclx) != 7 or chroma == 0 or depth > 12 or flags & 0x80:
        raise DecodeFailure("compact HEVC stream has an impossible header")
    data = b"".join(
        struct.pack(">I", len(n)) + n for n in nals if (n[0] >> 1) & 0x3F not in PARAMETER_SET_TYPES
    )
    if not data:
        raise DecodeFailure("compact HEVC stream carries no slice data")
    properties = [
        _box(b"hvcC", _hvcc(nals, chroma, depth)),
        _full(b"ispe", 0, 0, struct.pack(">II", *coded)),
        _box(b"colr", b"nclx", nclx),
        _full(b"pixi", 0, 0, bytes([3, depth, depth, depth])),
    ]
    essential = [1]
    if coded != (width, height):  # crop the padding: right/bottom, as libheif wrote it
        properties.append(
            _box(
                b"clap",
                struct.pack(">8i", width, 1, height, 1, width - coded[0], 2, height - coded[1], 2),
            )
        )
        essential.append(len(properties))
    associations = bytes(
        (0x80 if index in essential else 0) | index for index in range(1, len(properties) + 1)
    )
    ipma = _full(b"ipma", 0, 0, struct.pack(">IHB", 1, 1, len(associations)), associations)
    ftyp = _box(b"ftyp", b"heic", struct.pack(">I", 0), b"mif1heic")

    def meta(data_offset: int) -> bytes:
        return _full(
            b"meta",
            0,
            0,
            _full(b"hdlr", 0, 0, b"\0\0\0\0pict", b"\0" * 13),
            _full(b"pitm", 0, 0, struct.pack(">H", 1)),
            _full(
                b"iinf",
                0,
                0,
                struct.pack(">H", 1),
                _full(b"infe", 2, 0, struct.pack(">HH", 1, 0), b"hvc1\0"),
            ),
            _full(
                b"iloc",
                0,
                0,
                bytes([0x44, 0x40]),
                struct.pack(">HHHIHII", 1, 1, 0, data_offset, 1, 0, len(data)),
            ),
            _box(b"iprp", _box(b"ipco", *properties), ipma),
        )

    head = len(ftyp) + len(meta(0)) + 8
    return ftyp + meta(head) + _box(b"mdat", data)
