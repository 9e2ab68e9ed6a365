"""What a bench run writes to `bench/results/latest.json`: one model per measurement."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Machine(BaseModel):
    cores: int
    cpu: str | None
    memory_gib: float
    python: str
    platform: str
    temporal_cli: str
    temporalio: str
    load_average_at_start: list[float]
    bytecode_cache: bool = Field(
        description="Whether workers can use compiled bytecode: the workflow sandbox re-imports "
        "each workflow's module for every run, from source when there is none "
        "(PYTHONDONTWRITEBYTECODE set and nothing compiled)."
    )
    shared: bool = Field(
        description="Measured while other work ran on the machine: asked for (--shared), a "
        "load average of 0.5 or more at the start, or other processes taking 10% or more of "
        "the CPU during a measured phase (`others_percent`)."
    )


class Sizes(BaseModel):
    start_journeys: int
    event_journeys: int
    events: int
    event_concurrency: int
    latency_samples: int
    latency_seconds: float
    history_customers: int
    history_years: int
    history_day_seconds: float
    open_journeys_target: int
    quiet_day_seconds: float = Field(description="Journey day length where timers stay quiet.")
    budget_minutes: float


class Rate(BaseModel):
    count: int
    seconds: float
    per_second: float

    @classmethod
    def of(cls, count: int, seconds: float) -> Rate:
        return cls(count=count, seconds=round(seconds, 3), per_second=round(count / seconds, 1))


class Target(BaseModel):
    measure: str
    goal: str
    value: str
    met: bool


class StartResult(BaseModel):
    """(1) Journeys started and settled into onboarding, beside bare no-op executions."""

    waypost: Rate
    baseline: Rate
    ratio: float
    waypost_submitted_seconds: float = Field(description="Until every start call returned.")
    baseline_submitted_seconds: float
    waypost_cpu_ms: dict[str, float] = Field(
        description="CPU ms per journey, by process; `others` is the rest of the machine."
    )
    baseline_cpu_ms: dict[str, float] = Field(description="CPU ms per no-op, by process.")
    waypost_history: tuple[float, float] = Field(
        description="History events and billable actions of a settled journey (mean of a sample)."
    )
    baseline_history: tuple[float, float] = Field(description="The same for a no-op.")
    settled_means: str = (
        "journey_started is in Postgres and the journey has no pending workflow task or "
        "activity (it waits on its timers); a no-op is settled when it has completed"
    )


class LatencyStats(BaseModel):
    samples: int
    p50: float
    p95: float
    p99: float
    max: float


class EventResult(BaseModel):
    """(2) CRM events applied via POST /webhooks/events, beside bare handle.signal()."""

    waypost: Rate
    baseline: Rate
    ratio: float
    journeys: int
    concurrency: int
    events_per_request: int
    http_statuses: dict[str, int]
    applied: int
    stale: int
    duplicates: int
    waypost_accepted_seconds: float = Field(description="Until every POST was answered.")
    waypost_cpu_ms: dict[str, float] = Field(description="CPU ms per event, by process.")
    baseline_cpu_ms: dict[str, float] = Field(description="CPU ms per signal, by process.")


class ReactionResult(BaseModel):
    """(3) From the webhook request to the play visible in the journey's query, under a steady
    load of the same events at half the throughput (2) measured (a saturated load measures
    its own queue, not reaction)."""

    waypost: LatencyStats
    baseline: LatencyStats = Field(description="Bare signal to the count visible in a query.")
    webhook_answered: LatencyStats = Field(description="Until POST /webhooks/events answered.")
    waypost_breakdown_ms: dict[str, float] = Field(
        default={}, description="Mean ms per stage of a reaction, read from the histories."
    )
    saturated_waypost: LatencyStats = Field(
        description="The same reaction under (2)'s saturating load: mostly its queue."
    )
    saturated_baseline: LatencyStats
    offered_per_second: float
    events: int
    waypost_behind_seconds: float = Field(description="How far sending fell behind schedule.")
    baseline_behind_seconds: float
    poll_interval: float


class RunHistory(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    events: int
    actions: int
    continue_as_new_suggested_at: int | None = Field(
        default=None, description="Event id where the server first suggested continue-as-new."
    )


class HistoryResult(BaseModel):
    """(4) Ten years of journey in compressed time with a realistic event mix."""

    customers: int
    years: int
    journey_years_lived: float = Field(
        description="Journey time each customer's journey actually lived (mean): per "
        "customer-year figures divide by this."
    )
    day_seconds: float
    wall_seconds: float
    event_mix: dict[str, int] = Field(description="What the simulated CRM and CSMs sent.")
    refused: dict[str, int] = Field(description="Updates and signals the journey refused.")
    journey_runs: int
    max_runs_per_customer: int
    play_runs: int
    max_events_per_run: int
    events_per_customer_year: float = Field(description="Journey and play histories together.")
    journey_events_per_customer_year: float
    actions_per_customer_year: float = Field(
        description="As in real days: measured, plus the adoption-check timers compressed "
        "time skipped (a branch waking late catches up without a timer)."
    )
    actions_measured_per_customer_year: float
    adoption_timers_skipped_per_customer_year: float
    external_actions_per_customer_year: float = Field(
        description="Starts, client signals and updates: what the event mix sends."
    )
    waypost_actions_per_customer_year: float = Field(
        description="Timers, activities, plays, search attributes, continue-as-new: Waypost's own."
    )
    actions_by_kind_per_customer_year: dict[str, float]
    largest_runs: list[RunHistory]
    action_mapping: dict[str, str]


class MemoryPoint(BaseModel):
    open_journeys: int
    rss_mib: float
    per_journey_kib: float = Field(description="(RSS - RSS after warm-up) / journeys added.")


class ResumeResult(BaseModel):
    journeys: int
    ready_seconds: float = Field(description="Process start until it polls its task queue.")
    all_answered_seconds: float = Field(
        description="Process start until every open journey answered a query (replayed)."
    )
    rss_mib_after: float
    queries_retried: int = Field(
        default=0, description="Queries that timed out and were asked again."
    )


class MemoryResult(BaseModel):
    """(5) Worker RSS with open journeys waiting on timers, and resuming them after a restart."""

    idle_rss_mib: float
    warmup_journeys: int
    warm_rss_mib: float
    points: list[MemoryPoint]
    max_cached_workflows: int
    resume: ResumeResult
    baseline_points: list[MemoryPoint]
    baseline_resume: ResumeResult
    sized_down: str | None = Field(
        default=None, description="Why fewer open journeys than the target were measured."
    )


class ProfileSummary(BaseModel):
    process: str
    phase: str
    file: str
    samples: int
    top_self: list[tuple[str, float]] = Field(description="Leaf frames, % of samples.")
    by_package: list[tuple[str, float]] = Field(description="Leaf frames' package, %.")
    waypost_inclusive: list[tuple[str, float]] = Field(
        description="Waypost functions on the stack, % of samples."
    )


class BenchResult(BaseModel):
    started_at: datetime
    finished_at: datetime
    wall_seconds: float
    quick: bool
    machine: Machine
    sizes: Sizes
    start: StartResult | None = None
    events: EventResult | None = None
    reaction: ReactionResult | None = None
    history: HistoryResult | None = None
    memory: MemoryResult | None = None
    targets: list[Target] = []
    profiles: list[ProfileSummary] = []
    notes: list[str] = []
    errors: list[str] = Field(default=[], description="Scenarios that failed, and why.")
