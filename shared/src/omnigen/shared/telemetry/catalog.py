"""Every metric omnigen emits, in one place: the code emits exactly these names, units and
dimension sets, and the Terraform dashboard and alarms are checked against this module
(tests/deploy/test_terraform.py), so the two cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NAMESPACE: Final = "Omnigen"


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its name, its CloudWatch unit, and the dimension sets it is published under
    (each set is one CloudWatch metric; an empty set is the metric over everything)."""

    name: str
    unit: str
    dimension_sets: tuple[tuple[str, ...], ...]

    @property
    def dimension_keys(self) -> frozenset[str]:
        return frozenset(key for keys in self.dimension_sets for key in keys)


# Job counters are about jobs, whichever service saw the event: an aggregate without dimensions
# (what the failure-rate alarm divides), and failures also by reason class.
JOBS_ACCEPTED: Final = MetricSpec("JobsAccepted", "Count", ((),))
JOBS_COMPLETED: Final = MetricSpec("JobsCompleted", "Count", ((),))
JOBS_FAILED: Final = MetricSpec("JobsFailed", "Count", ((), ("ReasonClass",)))
# Per service.
STAGE_DURATION: Final = MetricSpec("StageDuration", "Milliseconds", (("Service", "Stage"),))
PROVIDER_LATENCY: Final = MetricSpec("ProviderLatency", "Milliseconds", (("Service", "Provider"),))
PROVIDER_ERRORS: Final = MetricSpec("ProviderErrors", "Count", (("Service", "Provider"),))
QUEUE_LAG: Final = MetricSpec("QueueLag", "Milliseconds", (("Service",),))

METRICS: Final = (
    JOBS_ACCEPTED,
    JOBS_COMPLETED,
    JOBS_FAILED,
    STAGE_DURATION,
    PROVIDER_LATENCY,
    PROVIDER_ERRORS,
    QUEUE_LAG,
)

SERVICES: Final = ("ingest", "scripter", "renderer")

# Stage -> the service that runs it. The worker steps (`Step.name`) and the render's parts.
STAGES: Final = {
    "script": "scripter",
    "compose": "renderer",
    "render.scene": "renderer",
    "render.audio": "renderer",
    "render.compose": "renderer",
}

# The kinds of hosted-provider call (the `Provider` dimension) and who makes them.
PROVIDERS: Final = {
    "llm": "scripter",
    "clips": "renderer",
    "speech": "renderer",
    "music": "renderer",
}

# Why a job failed, coarsely (the `ReasonClass` dimension): few values, so few metrics.
REASON_PROVIDER: Final = "provider"  # a provider refused or failed for good
REASON_STEP: Final = "step"  # the step's own permanent error (e.g. media that cannot be used)
REASON_PERMANENT: Final = "permanent"  # a handler said retrying cannot help
REASON_RETRIES: Final = "retries_exhausted"  # the message ran out of attempts
REASON_DEAD_LETTER: Final = "dead_letter"  # SQS gave up on the message (the DLQ watcher)
REASON_MALFORMED: Final = "malformed_event"  # a poison message naming a job
REASON_CANCELLED: Final = "cancelled"  # the user cancelled it
REASON_CLASSES: Final = (
    REASON_PROVIDER,
    REASON_STEP,
    REASON_PERMANENT,
    REASON_RETRIES,
    REASON_DEAD_LETTER,
    REASON_MALFORMED,
    REASON_CANCELLED,
)
