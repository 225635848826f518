"""Text from files and paths made safe to show on a terminal.

A job file, a file name in a source tree or an error message quoting either
may hold terminal control sequences: ``ESC ] 0 ;`` retitles a tmux pane,
``ESC [ 2 J`` clears the screen, a bare ``CR`` overwrites what a line said.
Anything a front end shows that did not come from the program itself passes
through :func:`printable` first, so a hostile name reads as what it is.

What is escaped (and how), so the same name always reads the same way:

- C0 controls (U+0000-U+001F) and DEL (U+007F): ``\\t``, ``\\n``, ``\\r`` for
  the three common ones, ``\\xNN`` for the rest (ESC is ``\\x1b``). Tab and
  newline are escaped too: a path or a field is one line, and a newline inside
  a file name would otherwise forge a second log line. ``multiline=True``
  keeps real newlines for text that is meant to span lines (a message listing
  several problems); every other control is still escaped.
- C1 controls (U+0080-U+009F): ``\\xNN`` (U+009B is a one-character CSI on
  some terminals).
- Undecodable bytes from file names (``os.fsdecode`` lone surrogates
  U+DC80-U+DCFF): ``\\xNN`` with the original byte value.
- Other invisible format characters that reorder or hide text: the bidi
  controls (U+200E/F, U+202A-U+202E, U+2066-U+2069), the line and paragraph
  separators (U+2028/9) and any other lone surrogate: ``\\uNNNN``.

A backslash itself is left as it is: the escapes are for reading, not for
parsing back, and doubling every backslash would make ordinary paths harder
to read.
"""

from __future__ import annotations

import re

_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _table(keep_newline: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)):
        table[code] = _NAMED.get(code, f"\\x{code:02x}")
    for code in (0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)):
        table[code] = f"\\u{code:04x}"
    if keep_newline:
        del table[0x0A]
    return table


_ONE_LINE = _table(keep_newline=False)
_MULTILINE = _table(keep_newline=True)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # an undecodable byte from os.fsdecode
    return f"\\u{code:04x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """``text`` with every terminal control character escaped (see the module docstring).

    Plain printable text comes back unchanged (the same object), so calling
    this on everything shown costs nearly nothing.
    """
    if text.isprintable():
        return text
    out = text.translate(_MULTILINE if multiline else _ONE_LINE)
    return _SURROGATE.sub(_surrogate, out)


def has_controls(text: str, *, multiline: bool = False) -> bool:
    """True when ``text`` holds a character :func:`printable` would escape.

    Used by validation to refuse such characters in text fields outright;
    ``multiline`` allows newlines (a description written as a YAML block).
    """
    return printable(text, multiline=multiline) != text
