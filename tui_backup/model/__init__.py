"""Plain immutable data and its validation; imports nothing of ours but itself."""

from tui_backup.model.clock import Clock, from_iso, to_iso, utcnow
from tui_backup.model.duration import Duration
from tui_backup.model.job import ENGINES, Hooks, JobSpec, is_valid_name, parse_job, validate
from tui_backup.model.problems import Problem, ValidationError
from tui_backup.model.progress import Progress
from tui_backup.model.records import ErrorEvent, RunRecord, new_id
from tui_backup.model.retention import RetentionPolicy
from tui_backup.model.state import JobState, LastResult
from tui_backup.model.status import ACTIVE_STATUSES, FINAL_STATUSES, Severity, Status

__all__ = [
    "ACTIVE_STATUSES",
    "ENGINES",
    "FINAL_STATUSES",
    "Clock",
    "Duration",
    "ErrorEvent",
    "Hooks",
    "JobSpec",
    "JobState",
    "LastResult",
    "Problem",
    "Progress",
    "RetentionPolicy",
    "RunRecord",
    "Severity",
    "Status",
    "ValidationError",
    "from_iso",
    "is_valid_name",
    "new_id",
    "parse_job",
    "to_iso",
    "utcnow",
    "validate",
]
