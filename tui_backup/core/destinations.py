"""Which jobs share a destination, and when that is refused.

Two jobs writing into one snapshot tree (the same directory, or one inside
the other) mix their snapshots: listings, retention and purge of one then
touch the other's. So ``add``/``edit`` refuse such a destination
(:class:`DestinationInUse`) unless forced. A repository that keeps each
job's snapshots apart (restic: tagged per job and host; engines whose
:class:`~tui_backup.engines.api.Capabilities` say ``shares_destination``)
may be shared when both jobs use it as exactly the same location.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable

from tui_backup.core.errors import OperationFailed
from tui_backup.model.job import JobSpec
from tui_backup.model.secrets import mask_url

log = logging.getLogger(__name__)

_URL_USERINFO = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://)[^\s/@]*@")

SharesDestination = Callable[[JobSpec], bool]


class DestinationInUse(OperationFailed):
    """The destination is used by another job (``others``); ``force`` saves it anyway."""

    def __init__(self, job: str, destination: str, others: Iterable[str]) -> None:
        self.job = job
        self.destination = destination
        self.others = tuple(others)
        names = ", ".join(repr(n) for n in self.others)
        noun = "job" if len(self.others) == 1 else "jobs"
        where = f"destination {mask_url(destination)} of job {job!r}"
        super().__init__(
            f"{where} is already used by {noun} {names}: one destination holds one job's "
            "snapshots (its engine refuses what another job owns); choose another "
            "destination, or save anyway with --force"
        )
        self.warning = (
            f"{where} is also used by {noun} {names}; saved as asked, but its engine will "
            "refuse to run, list or purge there while another job owns the destination"
        )
        """What to print after a forced save (the refusal's advice no longer applies)."""


def location(destination: str) -> str:
    """A comparable form of a destination: a resolved local path, or a remote one as written.

    Credentials in URLs do not make another location (``rest:http://a:b@h/r``
    is ``rest:http://h/r``); trailing slashes do not either.
    """
    if os.path.isabs(os.path.expanduser(destination)):
        return os.path.realpath(os.path.expanduser(destination))
    stripped = _URL_USERINFO.sub(lambda m: m["pre"], destination)
    return stripped.rstrip("/") or stripped


def _nested(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same location or one holds the other (``/a``, ``/a/b``;
    never ``/ab`` and ``/a``)."""
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def conflicting(spec: JobSpec, others: Iterable[JobSpec], shares: SharesDestination) -> list[str]:
    """Names of ``others`` whose destination conflicts with ``spec``'s (sorted).

    ``shares`` says whether a job's engine keeps jobs apart inside one
    destination; it is asked only about jobs whose locations overlap.
    """
    mine = location(spec.destination)
    found: list[str] = []
    shares_mine: bool | None = None
    for other in others:
        if other.name == spec.name:
            continue
        theirs = location(other.destination)
        if not _nested(mine, theirs):
            continue
        if mine == theirs:
            if shares_mine is None:
                shares_mine = _safe(shares, spec)
            if shares_mine and _safe(shares, other):
                continue
        found.append(other.name)
    return sorted(found)


def _safe(shares: SharesDestination, spec: JobSpec) -> bool:
    """``shares(spec)``, and False (the safe answer: one job, one destination) if it fails."""
    try:
        return bool(shares(spec))
    except Exception:
        log.debug("%s: cannot tell whether its destination may be shared", spec.name, exc_info=True)
        return False


__all__ = ["DestinationInUse", "conflicting", "location"]
