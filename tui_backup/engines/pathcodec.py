"""Escaping of file names for line-based text files.

File names on Linux are bytes: they may hold tabs, newlines and sequences
that are not UTF-8. Python hands them to us as ``str`` with lone surrogates
(``surrogateescape``). The manifest is tab-separated and line-based, so we
escape ``\\``, tab, newline and carriage return, and write every byte that is
not valid UTF-8 as ``\\xHH``. The result is readable for ordinary names and
round-trips exactly for every possible name.
"""

from __future__ import annotations

import re

_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\udc80-\udcff]")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[\\tnr])")
_SIMPLE = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def encode(name: str) -> str:
    """Escape ``name`` (a path as os functions return it) for one TSV field."""
    if _NEEDS_ESCAPE.search(name) is None:
        return name
    raw = name.encode("utf-8", "surrogateescape")
    raw = raw.replace(b"\\", b"\\\\").replace(b"\t", b"\\t")
    raw = raw.replace(b"\n", b"\\n").replace(b"\r", b"\\r")
    return raw.decode("utf-8", "backslashreplace")


def _unescape_bytes(match: re.Match[str]) -> str:
    token = match.group(1)
    if token[0] == "x":
        # A raw byte: map it back through surrogateescape so the str is a real name.
        return bytes([int(token[1:], 16)]).decode("utf-8", "surrogateescape")
    return _SIMPLE[token]


def decode(field: str) -> str:
    """Invert :func:`encode`."""
    if "\\" not in field:
        return field
    return _ESCAPE.sub(_unescape_bytes, field)
