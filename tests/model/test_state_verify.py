"""``LastVerify`` in a state file: the verify's unit and unknown bytes, old files still read."""

from __future__ import annotations

from datetime import UTC, datetime

from tui_backup.model.state import LastVerify

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_pack_count_and_unknown_bytes_round_trip() -> None:
    last = LastVerify(WHEN, "ok", snapshots=1, files=9, unit="pack", bytes_known=False)
    data = last.to_dict()
    assert data["unit"] == "pack" and data["bytes"] is None and data["bytes_known"] is False
    assert LastVerify.from_dict(data) == last


def test_a_state_file_from_before_reads_as_files_and_known_bytes() -> None:
    old = {"time": "2026-01-02T03:04:05+00:00", "outcome": "ok", "files": 3, "bytes": 300}
    last = LastVerify.from_dict(old)
    assert last is not None
    assert (last.files, last.unit, last.bytes, last.bytes_known) == (3, "file", 300, True)


def test_an_unknown_unit_or_a_null_byte_count_reads_safely() -> None:
    data = {"time": "2026-01-02T03:04:05+00:00", "outcome": "ok", "unit": "\x1b[2J", "bytes": None}
    last = LastVerify.from_dict(data)
    assert last is not None and last.unit == "file" and last.bytes_known is False


def test_an_old_restic_verify_reads_as_packs_with_bytes_unknown() -> None:
    old = {
        "time": "2026-01-02T03:04:05+00:00",
        "outcome": "ok",
        "files": 12,
        "bytes": 0,
        "method": "restic check --read-data-subset=1/10",
    }
    last = LastVerify.from_dict(old)
    assert last is not None and (last.unit, last.bytes_known) == ("pack", False)
