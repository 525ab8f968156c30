"""Object UIDs: random (version 4) UUIDs in their text form, cheaply.

``uuid.uuid4()`` asks the kernel for 16 random bytes per UID (a getrandom
call, which also releases and re-takes the GIL) and builds a UUID object;
under load the apiserver creates hundreds of objects a second. Here random
bytes come from ``os.urandom`` in chunks of many UIDs and are formatted
directly. The UIDs are the same kind of value: 122 random bits with the
version (4) and variant (RFC 4122) bits set.
"""

from __future__ import annotations

import os

__all__ = ["new_uid"]

_CHUNK = 16 * 256  # random bytes fetched at once: 256 UIDs

_pool = b""
_pos = 0


def _reset_pool() -> None:
    """A forked child must not hand out the parent's remaining UIDs."""
    global _pool, _pos
    _pool, _pos = b"", 0


os.register_at_fork(after_in_child=_reset_pool)


def new_uid() -> str:
    """A fresh random UUID (version 4), formatted as 8-4-4-4-12 lowercase hex."""
    global _pool, _pos
    if _pos >= len(_pool):
        _pool, _pos = os.urandom(_CHUNK), 0
    b = bytearray(_pool[_pos:_pos + 16])
    _pos += 16
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
