"""printable(): terminal control characters from files and paths are shown escaped."""

from __future__ import annotations

import os

import pytest

from tui_backup.model.text import has_controls, printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain/path with spaces é ü 日本", "plain/path with spaces é ü 日本"),
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("\x1b[2J", "\\x1b[2J"),
        ("a\tb\nc\rd", "a\\tb\\nc\\rd"),
        ("del\x7f", "del\\x7f"),
        ("csi\x9b31m", "csi\\x9b31m"),
        ("nul\x00", "nul\\x00"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("sep\u2028x", "sep\\u2028x"),
        ("back\\slash", "back\\slash"),
    ],
)
def test_controls_are_escaped(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_undecodable_bytes_show_their_value() -> None:
    name = os.fsdecode(b"caf\xe9\x1b")
    assert printable(name) == "caf\\xe9\\x1b"


def test_no_control_survives_any_code_point() -> None:
    every = "".join(chr(c) for c in range(0x00, 0x2100) if not 0xD800 <= c <= 0xDFFF)
    out = printable(every)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in out)
    assert "\u202e" not in out and "\u2028" not in out


def test_multiline_keeps_newlines_only() -> None:
    assert printable("one\ntwo\x1b", multiline=True) == "one\ntwo\\x1b"
    assert printable("a\tb", multiline=True) == "a\\tb"


def test_plain_text_is_returned_as_is() -> None:
    text = "jobs/web.yaml: retries: must be an integer"
    assert printable(text) is text


def test_has_controls() -> None:
    assert has_controls("x\x1by")
    assert not has_controls("fine name")
    assert has_controls("two\nlines")
    assert not has_controls("two\nlines", multiline=True)
