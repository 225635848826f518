"""Verifies in background threads (a job's ``verify.schedule``), each holding the job's run lock.

A verify started here never runs beside a run of the same job: the caller
takes the run lock before :meth:`BackgroundVerifies.start`, and the verify's
thread releases it when it ends. What the verify found is kept by the
snapshot door's ``on_verified`` (the run tracker's ``record_verify``); a
verify that could not run at all is a MEDIUM error, a crash a HIGH one.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable

import portalocker

from tui_backup.core.snapshots import (
    EngineFactory,
    OnVerified,
    SnapshotOperationFailed,
    SnapshotOps,
)
from tui_backup.core.vocabulary import Component, Trigger
from tui_backup.model.job import JobSpec
from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity

log = logging.getLogger(__name__)

RecordError = Callable[[ErrorEvent], object]


class BackgroundVerifies:
    """The verify threads of this process, by job name."""

    def __init__(
        self, engine_factory: EngineFactory, on_verified: OnVerified, record_error: RecordError
    ) -> None:
        # The run lock is already the verify's: this door must not take it again.
        self._ops = SnapshotOps(engine_factory, on_verified=on_verified)
        self._record_error = record_error
        self._lock = threading.Lock()
        self._threads: dict[str, tuple[threading.Thread, threading.Event]] = {}

    def names(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._threads)

    def busy(self, name: str) -> bool:
        with self._lock:
            return name in self._threads

    def start(self, spec: JobSpec, trigger: Trigger, lock: portalocker.Lock) -> threading.Thread:
        """Verify every snapshot of ``spec`` in a thread that releases ``lock`` when done."""
        cancel = threading.Event()
        thread = threading.Thread(
            target=self._body,
            args=(spec, trigger, lock, cancel),
            name=f"tui-backup-verify-{spec.name}",
            daemon=True,
        )
        with self._lock:
            self._threads[spec.name] = (thread, cancel)
        thread.start()
        return thread

    def cancel_all(self) -> list[threading.Thread]:
        """Ask every verify to stop; returns their threads (to join)."""
        with self._lock:
            running = list(self._threads.values())
        for _thread, cancel in running:
            cancel.set()
        return [thread for thread, _cancel in running]

    def _body(
        self, spec: JobSpec, trigger: Trigger, lock: portalocker.Lock, cancel: threading.Event
    ) -> None:
        try:
            report = self._ops.verify(
                spec, None, deep=spec.verify.deep, cancel=cancel, trigger=trigger
            )
            log.info("%s: %s verify: %s", spec.name, trigger, report.outcome)
        except SnapshotOperationFailed as exc:
            if cancel.is_set():
                log.info("%s: verify stopped", spec.name)
            elif exc.error_type == "no_snapshots":
                log.info("%s: nothing to verify yet: %s", spec.name, exc)
            else:
                self._record_error(
                    ErrorEvent(
                        severity=Severity.MEDIUM,
                        component=Component.VERIFY,
                        error_type=exc.error_type,
                        message=f"{spec.name}: the {trigger} verify could not run: {exc}",
                        job_name=spec.name,
                    )
                )
        except Exception as exc:
            log.exception("%s: verify crashed", spec.name)
            self._record_error(
                ErrorEvent(
                    severity=Severity.HIGH,
                    component=Component.VERIFY,
                    error_type="internal_error",
                    message=f"{spec.name}: the {trigger} verify crashed: {exc}",
                    job_name=spec.name,
                    stack_trace=traceback.format_exc(),
                )
            )
        finally:
            lock.release()
            with self._lock:
                self._threads.pop(spec.name, None)
