"""A compact reader of a ZIP file's central directory, and of its stored or deflated members.

:class:`zipfile.ZipFile` builds one :class:`zipfile.ZipInfo` per member, several hundred bytes
each: for a bundle of 100,000 records (200,003 members) that is over 100 MB before a single
byte is read. :class:`ZipDirectory` keeps the same facts in parallel typed arrays (about 40
bytes a member, plus its name), read from the End Of Central Directory record (ZIP64 when
present: 200,003 entries do not fit its 16-bit count) and the central directory entries,
streamed in bounded chunks.

Only what bundle checks need is kept and only methods 0 (stored) and 8 (deflate) are read;
deciding whether an archive is *safe* (rule 1) is :mod:`printctl.intake.zipsafe`'s job. Any
structural problem raises :class:`ZipFormatError`, never an ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import os
import struct
import zlib
from array import array
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DEFLATED", "STORED", "NotAZipFile", "TooManyMembers", "ZipDirectory", "ZipFormatError"]

STORED = 0
DEFLATED = 8
#: General purpose flag bits (APPNOTE 4.4.4).
FLAG_ENCRYPTED = 0x1
FLAG_DATA_DESCRIPTOR = 0x8
FLAG_UTF8 = 0x800

_EOCD = struct.Struct(
    "<4s4H2LH"
)  # signature, disk, cd disk, entries here, entries, size, offset, comment
_EOCD_MAGIC = b"PK\x05\x06"
_LOCATOR = struct.Struct("<4sLQL")  # signature, disk of the ZIP64 record, its offset, disks
_LOCATOR_MAGIC = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # signature, size, versions, disks, entries ×2, size, offset
_EOCD64_MAGIC = b"PK\x06\x06"
# signature, flags, method, CRC, sizes, name/extra/comment lengths, disk, attributes, offset
_CENTRAL = struct.Struct("<4s4x2H4x3L5H2L")
_CENTRAL_MAGIC = b"PK\x01\x02"
_LOCAL = struct.Struct("<4s2x2H4x3L2H")  # signature, flags, method, CRC, sizes, lengths
_LOCAL_MAGIC = b"PK\x03\x04"
_EXTRA_HEADER = struct.Struct("<2H")
_ZIP64_EXTRA = 0x0001
_MAX32 = 0xFFFFFFFF
_MAX16 = 0xFFFF
#: The EOCD record may be followed by a comment of up to 65,535 bytes.
_TAIL = _EOCD.size + _MAX16
#: Bytes read at a time from the central directory and from large members.
CHUNK = 1 << 20


class ZipFormatError(ValueError):
    """The file is not a ZIP archive, or its structures are corrupt; ``str(exc)`` says how."""


class NotAZipFile(ZipFormatError):
    """The file has no End Of Central Directory record: it is not a ZIP archive at all."""

    def __init__(self) -> None:
        super().__init__("not a ZIP archive")


class TooManyMembers(ZipFormatError):
    """The End Of Central Directory announces more members than the caller allows."""

    def __init__(self, count: int) -> None:
        super().__init__(f"the archive has {count} members")
        self.count = count


def _zip64_values(extra: bytes, wanted: int) -> list[int]:
    """The first ``wanted`` 8-byte values of the ZIP64 extra field (0x0001) in ``extra``."""
    pos = 0
    # Like zipfile: fewer than 4 trailing bytes are padding, not a field.
    while pos + _EXTRA_HEADER.size <= len(extra):
        tag, length = _EXTRA_HEADER.unpack_from(extra, pos)
        pos += _EXTRA_HEADER.size
        if pos + length > len(extra):
            raise ZipFormatError(f"extra field {tag:#06x} overruns its entry")
        if tag == _ZIP64_EXTRA:
            if length < 8 * wanted:
                raise ZipFormatError("the ZIP64 extra field is too short")
            return list(struct.unpack_from(f"<{wanted}Q", extra, pos))
        pos += length
    raise ZipFormatError("sizes or offset need a ZIP64 extra field, and there is none")


class ZipDirectory:
    """The central directory of the ZIP file at ``path``, in compact columns, and its reader.

    Member ``i`` (in archive order) has ``names[i]`` (decoded as UTF-8 when flag bit 11 says
    so, else CP437, as :mod:`zipfile` does; NUL bytes kept, for the caller to refuse) and
    ``offset[i]`` (of its local header), ``compress_size[i]``, ``size[i]``, ``crc[i]``,
    ``method[i]``, ``flags[i]``, ``external_attr[i]``. Raises :class:`ZipFormatError` (or
    ``OSError`` from opening the file) if the directory cannot be read, and
    :class:`TooManyMembers` before reading any entry if there are more than ``max_members``.
    Reads use ``os.pread``: no shared file position, and no memory map (every mapped page read
    would count as resident memory).
    """

    def __init__(self, path: Path, *, max_members: int | None = None) -> None:
        self._file = Path(path).open("rb")  # noqa: SIM115 -- held open until close()
        try:
            self._fd = self._file.fileno()
            self._read_directory(max_members)
        except BaseException:
            self._file.close()
            raise

    # --- the directory ------------------------------------------------------------------

    def _pread(self, size: int, offset: int) -> bytes:
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise ZipFormatError("the file ends inside a ZIP structure")
        return data

    def _end_record(self) -> tuple[int, int, int]:
        """(entries, central directory offset, its size) from the EOCD (ZIP64 if present)."""
        file_size = os.fstat(self._fd).st_size
        if file_size < _EOCD.size:
            raise NotAZipFile
        tail_at = max(0, file_size - _TAIL)
        tail = self._pread(file_size - tail_at, tail_at)
        # The last signature whose comment ends exactly at the end of the file: a signature
        # inside the comment, or one with trailing junk after it, is not the record.
        at = len(tail)
        while (at := tail.rfind(_EOCD_MAGIC, 0, at)) >= 0:
            if at + _EOCD.size <= len(tail):
                fields = _EOCD.unpack_from(tail, at)
                if at + _EOCD.size + fields[7] == len(tail):
                    break
        else:
            raise NotAZipFile
        _magic, disk, cd_disk, here, count, cd_size, cd_offset, _comment = fields
        eocd_at = tail_at + at
        end = eocd_at  # where the central directory must end
        locator_at = eocd_at - _LOCATOR.size
        if locator_at >= 0 and self._pread(4, locator_at) == _LOCATOR_MAGIC:
            _m, record_disk, record_at, disks = _LOCATOR.unpack(
                self._pread(_LOCATOR.size, locator_at)
            )
            if record_disk != 0 or disks > 1:
                raise ZipFormatError("the archive spans several disks")
            if record_at + _EOCD64.size > locator_at:
                raise ZipFormatError("the ZIP64 end record is out of place")
            record = _EOCD64.unpack(self._pread(_EOCD64.size, record_at))
            if record[0] != _EOCD64_MAGIC:
                raise ZipFormatError("the ZIP64 end record is missing")
            _m, _size, _made, _needed, disk, cd_disk, here, count, cd_size, cd_offset = record
            end = record_at
        if disk != 0 or cd_disk != 0 or here != count:
            raise ZipFormatError("the archive spans several disks")
        # No data before the archive (self-extractors) and nothing between the directory
        # and its end record: offsets then mean what they say.
        if cd_offset + cd_size != end:
            raise ZipFormatError("the central directory is not where the end record says")
        return count, cd_offset, cd_size

    def _read_directory(self, max_members: int | None) -> None:
        count, cd_offset, cd_size = self._end_record()
        if max_members is not None and count > max_members:
            raise TooManyMembers(count)
        self.cd_offset = cd_offset
        self.names: list[str] = []
        self.offset = array("q")
        self.compress_size = array("q")
        self.size = array("q")
        self.crc = array("I")
        self.method = array("H")
        self.flags = array("H")
        self.external_attr = array("I")
        buf = b""
        pos = 0  # in buf
        read_at = cd_offset  # next file offset to read into buf
        cd_end = cd_offset + cd_size

        def need(n: int) -> None:
            nonlocal buf, pos, read_at
            if len(buf) - pos >= n:
                return
            want = max(CHUNK, n) - (len(buf) - pos)
            want = min(want, cd_end - read_at)
            if len(buf) - pos + want < n:
                raise ZipFormatError("a central directory entry overruns the directory")
            buf = buf[pos:] + self._pread(want, read_at)
            read_at += want
            pos = 0

        for _ in range(count):
            need(_CENTRAL.size)
            (
                magic,
                flags,
                method,
                crc,
                csize,
                size,
                name_len,
                extra_len,
                comment_len,
                disk,
                _internal,
                external,
                offset,
            ) = _CENTRAL.unpack_from(buf, pos)
            if magic != _CENTRAL_MAGIC:
                raise ZipFormatError("a central directory entry has a bad signature")
            need(_CENTRAL.size + name_len + extra_len + comment_len)
            start = pos + _CENTRAL.size
            raw_name = buf[start : start + name_len]
            extra = buf[start + name_len : start + name_len + extra_len]
            pos = start + name_len + extra_len + comment_len
            try:
                name = raw_name.decode("utf-8" if flags & FLAG_UTF8 else "cp437")
            except UnicodeDecodeError:
                raise ZipFormatError("a member name is not valid UTF-8") from None
            wanted = (size == _MAX32) + (csize == _MAX32) + (offset == _MAX32)
            if wanted:
                values = iter(_zip64_values(extra, wanted))
                # APPNOTE 4.5.3: only the fields that overflowed, in this order.
                size = next(values) if size == _MAX32 else size
                csize = next(values) if csize == _MAX32 else csize
                offset = next(values) if offset == _MAX32 else offset
            if disk not in (0, _MAX16):
                raise ZipFormatError("the archive spans several disks")
            if offset + _LOCAL.size + csize > cd_offset:
                raise ZipFormatError(f"member {name!r} lies outside the archive's data")
            self.names.append(name)
            self.offset.append(offset)
            self.compress_size.append(csize)
            self.size.append(size)
            self.crc.append(crc)
            self.method.append(method)
            self.flags.append(flags)
            self.external_attr.append(external)
        if read_at != cd_end or pos != len(buf):
            raise ZipFormatError("the central directory has more bytes than its entries")

    def __len__(self) -> int:
        return len(self.names)

    def close(self) -> None:
        """Release the file."""
        self._file.close()

    def __enter__(self) -> ZipDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- members ------------------------------------------------------------------------

    def _data_start(self, i: int, head: bytes) -> int:
        """Check member ``i``'s local header (``head`` starts with it); where its data starts.

        The local header must agree with the central directory, which the safety checks
        vetted: another name or size there would mean two readers could see two archives.
        """
        name = self.names[i]
        if len(head) < _LOCAL.size:
            raise ZipFormatError(f"member {name!r}: truncated local header")
        magic, flags, method, crc, csize, size, name_len, extra_len = _LOCAL.unpack_from(head)
        if magic != _LOCAL_MAGIC:
            raise ZipFormatError(f"member {name!r}: bad local header")
        start = _LOCAL.size + name_len + extra_len
        if len(head) < start:
            head = self._pread(start, self.offset[i])
        raw_name = name.encode("utf-8" if self.flags[i] & FLAG_UTF8 else "cp437")
        if head[_LOCAL.size : _LOCAL.size + name_len] != raw_name:
            raise ZipFormatError(f"member {name!r}: the local header names another member")
        if method != self.method[i] or (flags ^ self.flags[i]) & FLAG_ENCRYPTED:
            raise ZipFormatError(f"member {name!r}: the local header disagrees on the method")
        extra = head[_LOCAL.size + name_len : start]
        if size == _MAX32 or csize == _MAX32:
            wanted = (size == _MAX32) + (csize == _MAX32)
            values = iter(_zip64_values(extra, wanted))
            size = next(values) if size == _MAX32 else size
            csize = next(values) if csize == _MAX32 else csize
        # With a data descriptor (flag bit 3) the local header may leave these zero: the
        # real values follow the data, and the central directory has them too.
        lax = bool(flags & FLAG_DATA_DESCRIPTOR)
        for local, central in (
            (crc, self.crc[i]),
            (csize, self.compress_size[i]),
            (size, self.size[i]),
        ):
            if local != central and not (lax and local == 0):
                raise ZipFormatError(f"member {name!r}: the local header disagrees on its sizes")
        data_start: int = self.offset[i] + start
        if data_start + self.compress_size[i] > self.cd_offset:
            raise ZipFormatError(f"member {name!r} lies outside the archive's data")
        return data_start

    def read(self, i: int, *, verify_crc: bool = True) -> bytes:
        """Member ``i``'s bytes, never more than its vetted size; raises ZipFormatError.

        ``verify_crc=False`` is for callers that check a cryptographic hash of the bytes
        anyway: the CRC-32 would only repeat a weaker check.
        """
        name, csize, size = self.names[i], self.compress_size[i], self.size[i]
        method = self.method[i]
        if method not in (STORED, DEFLATED) or self.flags[i] & FLAG_ENCRYPTED:
            raise ZipFormatError(f"member {name!r} cannot be read (method {method})")
        # One read for the header, the name, a typical extra field and the data: media
        # members are read one by one, and a second system call each would show.
        guess = _LOCAL.size + len(name) * 4 + 64
        chunk = os.pread(self._fd, guess + csize, self.offset[i])
        start = self._data_start(i, chunk) - self.offset[i]
        raw = chunk[start : start + csize]
        if len(raw) != csize:  # a longer extra field than guessed
            raw = os.pread(self._fd, csize, self.offset[i] + start)
        if len(raw) != csize:
            raise ZipFormatError(f"member {name!r} is truncated")
        if method == STORED:
            data = raw
        else:
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                # max_length bounds the output by the vetted size whatever the stream claims
                # (+1 so that excess shows, and because 0 would mean "no limit").
                data = inflater.decompress(raw, size + 1)
            except zlib.error:
                raise ZipFormatError(f"member {name!r} is not a valid deflate stream") from None
            if not inflater.eof:
                raise ZipFormatError(f"member {name!r} is not a complete stream")
        if len(data) != size:
            raise ZipFormatError(f"member {name!r} does not have its declared size")
        if verify_crc and zlib.crc32(data) != self.crc[i]:
            raise ZipFormatError(f"member {name!r} fails its CRC-32")
        return data

    def chunks(self, i: int, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """Member ``i``'s bytes in pieces of at most about ``chunk_size``, CRC-32 checked.

        The output stops at the vetted size whatever the compressed stream claims; a member
        that is short, long, or fails its CRC raises :class:`ZipFormatError` (after the
        pieces read so far, so a caller must not trust them before the iterator is done).
        """
        name, csize, size = self.names[i], self.compress_size[i], self.size[i]
        method = self.method[i]
        if method not in (STORED, DEFLATED) or self.flags[i] & FLAG_ENCRYPTED:
            raise ZipFormatError(f"member {name!r} cannot be read (method {method})")
        head = os.pread(self._fd, _LOCAL.size + len(name) * 4 + 64, self.offset[i])
        at = self._data_start(i, head)
        end = at + csize
        inflater = zlib.decompressobj(-zlib.MAX_WBITS) if method == DEFLATED else None
        crc, produced = 0, 0
        while inflater is None or not inflater.eof:
            if inflater is not None and inflater.unconsumed_tail:
                raw = inflater.unconsumed_tail
            elif at < end:
                raw = os.pread(self._fd, min(chunk_size, end - at), at)
                if not raw:
                    raise ZipFormatError(f"member {name!r} is truncated")
                at += len(raw)
            elif inflater is not None:
                raw = b""  # all input given: what the inflater still holds, if anything
            else:
                break
            if inflater is None:
                out = raw
            else:
                try:
                    out = inflater.decompress(raw, min(chunk_size, size + 1 - produced) or 1)
                except zlib.error:
                    raise ZipFormatError(f"member {name!r} is not a valid deflate stream") from None
                if not raw and not out:
                    break  # the input ended before the stream did
            produced += len(out)
            if produced > size:
                raise ZipFormatError(f"member {name!r} does not have its declared size")
            crc = zlib.crc32(out, crc)
            if out:
                yield out
        if inflater is not None and not inflater.eof:
            raise ZipFormatError(f"member {name!r} is not a complete stream")
        if produced != size:
            raise ZipFormatError(f"member {name!r} does not have its declared size")
        if crc != self.crc[i]:
            raise ZipFormatError(f"member {name!r} fails its CRC-32")
