"""What counts as a secret in a job, and how every front end hides it.

A job's ``env`` may hold a restic password, an S3 key or an API token, and a
destination URL may carry ``user:password@``; ``job show``, ``--json``, the
editor, error messages and logs show them masked (``***``).

The rule for names (case-insensitive): a variable is secret when its name
contains ``PASSWORD``, ``PASSWD``, ``PASSPHRASE``, ``SECRET``, ``TOKEN`` or
``CREDENTIAL``, or has ``KEY``, ``PASS`` or ``AUTH`` as one of its
``_``-separated words (``AWS_SECRET_ACCESS_KEY``, ``API_KEY``, ``DB_PASS``).
A name ending in ``_FILE``, ``_COMMAND`` (``_CMD``), ``_PATH`` or ``_SOCK``
is *not* secret: its value is a path or a command that leads to the secret
(``RESTIC_PASSWORD_FILE``, ``RESTIC_PASSWORD_COMMAND``), which is what the
tool stores instead of the secret itself and what a person needs to see to
fix a job. ``PWD`` is the
working directory, not a password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

_SUBSTRINGS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL")
_WORDS = frozenset({"KEY", "PASS", "AUTH", "PW"})
_NOT_SECRET_SUFFIXES = ("_FILE", "_COMMAND", "_CMD", "_PATH", "_SOCK")

_URL_CREDENTIALS = re.compile(
    r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s:/@]*):(?P<secret>[^\s@/]+)@"
)


def is_secret_name(name: str) -> bool:
    """True when an environment variable called ``name`` holds a secret (module docstring)."""
    upper = name.upper()
    if upper.endswith(_NOT_SECRET_SUFFIXES):
        return False
    if any(part in upper for part in _SUBSTRINGS):
        return True
    return any(word in _WORDS for word in re.split(r"[^A-Z0-9]+", upper))


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with every secret value replaced by ``***`` (an empty value stays empty)."""
    return {k: (MASK if v and is_secret_name(k) else v) for k, v in env.items()}


def mask_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` replaced by ``***``.

    Works on a bare destination (``rest:http://ana:pw@host:8000/repo``,
    ``s3:https://key:secret@host/bucket``) and on any message that quotes one.
    """
    if "@" not in text:
        return text
    return _URL_CREDENTIALS.sub(lambda m: f"{m['pre']}{m['user']}:{MASK}@", text)


__all__ = ["MASK", "is_secret_name", "mask_env", "mask_url"]


def redact(data: Any) -> Any:
    """``data`` with every secret masked, for anything a screen, a terminal or a log shows.

    An ``env`` mapping has its secret-looking values replaced
    (:func:`~tui_backup.model.secrets.mask_env`); every string has the
    password of a ``scheme://user:password@`` URL replaced. The job file
    itself keeps the real values: this is only what is shown.
    """
    if isinstance(data, dict):
        out = {k: redact(v) for k, v in data.items()}
        env = out.get("env")
        if isinstance(env, dict):
            out["env"] = mask_env({str(k): str(v) for k, v in env.items()})
        return out
    if isinstance(data, list | tuple):
        return [redact(v) for v in data]
    if isinstance(data, str):
        return mask_url(data)
    return data
