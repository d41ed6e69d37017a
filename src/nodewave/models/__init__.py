"""Pydantic models of the CRDs; the source of truth for `crds/`."""

from nodewave.models.execution import (
    DesiredState,
    Execution,
    ExecutionSpec,
    ExecutionStatus,
    ObservedState,
)
from nodewave.models.job import Job, JobSpec, JobStatus, JobType, RestartPolicy, Strategy

__all__ = [
    "DesiredState",
    "Execution",
    "ExecutionSpec",
    "ExecutionStatus",
    "Job",
    "JobSpec",
    "JobStatus",
    "JobType",
    "ObservedState",
    "RestartPolicy",
    "Strategy",
]
