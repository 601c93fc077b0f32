"""API shapes of the service desk."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from patron.core.parsing import FieldError, normalize_email
from patron.models import Priority, TicketType


def _email(value: str) -> str:
    """The same check (and normal form) as every other email in Patron."""
    try:
        return normalize_email(value)
    except FieldError as e:
        raise ValueError(str(e)) from None


Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]


class TicketCreate(BaseModel):
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)
    type: TicketType = TicketType.inquiry
    priority: Priority | None = None  # default: from the complaint's severity, else normal
    customer_id: int | None = None
    order_id: int | None = None
    order_line_id: int | None = None
    refund_id: int | None = None
    team_id: int | None = None
    language: str = Field(default="zh", pattern="^(zh|en)$")
    requester_name: str | None = Field(default=None, max_length=200)
    requester_email: Email | None = None


class PublicTicketCreate(BaseModel):
    """The public form: no account, the customer names themselves and maybe an order."""

    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)
    type: TicketType = TicketType.inquiry
    name: str = Field(min_length=1, max_length=200)
    email: Email
    order_number: str | None = Field(default=None, max_length=100)
    language: str = Field(default="zh", pattern="^(zh|en)$")


class MessageCreate(BaseModel):
    body: str = Field(min_length=1, max_length=20_000)
    internal: bool = False  # an internal note the customer never sees


class StatusChange(BaseModel):
    status: str


class Assignment(BaseModel):
    assignee_id: int | None = None
    team_id: int | None = None


class CategoryChange(BaseModel):
    category: str


class MergeRequest(BaseModel):
    into_ticket_id: int


class SlaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    target: str
    seq: int
    target_minutes: int
    elapsed_minutes: int
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    breached_at: datetime | None
    state: str


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    reference: str
    subject: str
    type: str
    channel: str
    status: str
    priority: str
    severity: str | None
    severity_reasons: list[str]
    category: str | None
    category_source: str | None
    category_confidence: float | None
    customer_id: int | None
    order_id: int | None
    order_line_id: int | None
    refund_id: int | None
    team_id: int | None
    assignee_id: int | None
    language: str
    requester_name: str | None
    merged_into_id: int | None
    reopen_count: int
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    sla: SlaOut | None = None  # the clock that matters now (due soonest)


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    author_name: str
    body: str
    created_at: datetime


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    actor: str
    action: str
    data: dict[str, Any]
    created_at: datetime


class TicketDetail(BaseModel):
    ticket: TicketOut
    messages: list[MessageOut]
    events: list[EventOut]
    slas: list[SlaOut]


class TicketPage(BaseModel):
    items: list[TicketOut]
    page: int
    per_page: int
    total: int


class PublicTicketOut(BaseModel):
    """What the customer's tracking link shows: no internal notes, no agent names' ids."""

    reference: str
    subject: str
    status: str
    created_at: datetime
    messages: list[MessageOut]
    tracking_url: str


class Interval(BaseModel):
    start: time
    end: time | None = None  # None: midnight at the end of the day


class TeamCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    timezone: str = "Asia/Shanghai"
    hours: dict[int, list[Interval]] | None = None  # weekday 0 = Monday; None: 24/7
    holidays: list[date] = []
    # Make-up working days (调休上班): date -> the weekday whose hours it keeps.
    workdays: dict[date, int] = {}


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    calendar: dict[str, Any]


class SlaPolicyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    position: int = 100
    match: dict[str, list[str]] = {}
    first_response_minutes: int | None = Field(default=None, ge=1)
    next_response_minutes: int | None = Field(default=None, ge=1)
    resolution_minutes: int | None = Field(default=None, ge=1)
    warn_before_minutes: int = Field(default=30, ge=0)
    active: bool = True
    escalate_to_user_id: int | None = None  # a miss reassigns the ticket to this user
    notify_url: str | None = Field(default=None, max_length=500, pattern="^https?://")
    notify_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")


class SlaPolicyOut(SlaPolicyCreate):
    model_config = ConfigDict(from_attributes=True)

    id: int


class ComplianceRow(BaseModel):
    group: str | int | None
    target: str
    met: int
    missed: int
    in_progress: int
    compliance: float | None  # met / (met + missed)


class ScanOut(BaseModel):
    breached: int
    warned: int


# -- after-sales, agents, canned replies ---------------------------------------------------------


class ReviewOut(BaseModel):
    order_id: int | None
    policy_id: int | None
    window_days: int
    requires_proof: bool
    since: datetime | None
    days_since: int | None
    within_window: bool | None
    currency: str | None
    order_total_minor: int | None
    refunded_minor: int
    refundable_minor: int | None


class RemedyCreate(BaseModel):
    kind: str
    key: str = Field(min_length=1, max_length=100, description="idempotency key: the same action once")
    amount_minor: int = Field(default=0, ge=0)
    note: str | None = Field(default=None, max_length=2000)
    override_window: bool = False


class RemedyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    key: str
    amount_minor: int
    currency: str
    refund_id: int | None
    coupon_code: str | None
    note: str | None
    actor: str
    created_at: datetime


class ReturnPolicyIn(BaseModel):
    shop_id: int | None = None
    category: str | None = Field(default=None, max_length=300)
    window_days: int
    requires_proof: bool = False
    note: str | None = None


class ReturnPolicyOut(ReturnPolicyIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


class AgentIn(BaseModel):
    refund_limit_minor: int | None = Field(default=None, ge=0)
    limit_currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")
    capacity: int | None = Field(default=None, ge=0, le=1000)
    languages: list[str] | None = None
    shops: list[str] | None = None
    types: list[str] | None = None
    vip: bool | None = None
    active: bool | None = None
    team_id: int | None = None


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: int
    team_id: int | None
    refund_limit_minor: int
    limit_currency: str
    capacity: int
    languages: list[str]
    shops: list[str]
    types: list[str]
    vip: bool
    active: bool


class CannedIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


class CannedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    lang: str
    body: str


# -- knowledge base and bot ---------------------------------------------------------------------


class ArticleIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=50_000)
    tags: list[str] = []
    published: bool = True


class ArticleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    lang: str
    title: str
    body: str
    tags: list[str]
    published: bool
    updated_at: datetime


class HitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    article_id: str
    lang: str
    title: str
    passage: str
    score: float


class BotQuestion(BaseModel):
    question: str = Field(max_length=2000)
    lang: str | None = Field(default=None, pattern="^(zh|en)$")


class BotAnswer(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    question: str
    lang: str
    article_id: str | None
    title: str | None
    passages: list[str]
    confidence: float
    confident: bool
    reason: str
    related: list[HitOut]
    handover: bool  # not confident: offer a person (POST /public/bot/handover)


class BotTurn(BaseModel):
    who: str = Field(pattern="^(customer|bot)$")
    text: str = Field(max_length=5000)


class HandoverRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: Email
    lang: str = Field(default="zh", pattern="^(zh|en)$")
    conversation: list[BotTurn] = Field(min_length=1, max_length=100)


# -- service quality: CSAT, root causes, corrective actions, reports --------------------------------


class CsatAnswer(BaseModel):
    """The customer's answer: 1 (very unhappy) to 5 (very happy); checked by the service
    (``csat_bad_score``, ``csat_comment_too_long``) like the web form."""

    score: int
    comment: str | None = Field(default=None, max_length=20_000)


class CsatPublicOut(BaseModel):
    """What the customer sees of a survey (no agent, no ticket id)."""

    reference: str
    answered: bool
    score: int | None
    url: str


class CsatOut(CsatPublicOut):
    ticket_id: int
    agent_id: int | None
    sent_at: datetime
    comment: str | None
    answered_at: datetime | None


class CsatSkip(BaseModel):
    skip: bool = True


class CsatSkipOut(BaseModel):
    ticket_id: int
    csat_skip: bool


class RootCauseChange(BaseModel):
    root_cause: str | None  # one of patron.desk.quality.ROOT_CAUSES; null clears it


class RootCauseOut(BaseModel):
    ticket_id: int
    root_cause: str | None


class ArchiveOut(BaseModel):
    ticket_id: int
    archived_at: datetime | None


class ActionCreate(BaseModel):
    description: str = Field(min_length=1, max_length=5000)
    kind: str = "corrective"  # or preventive
    cause: str | None = None  # default: the ticket's root cause
    ticket_id: int | None = None
    owner_user_id: int | None = None
    due_on: date | None = None


class ActionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int | None
    cause: str
    kind: str
    description: str
    owner_user_id: int | None
    due_on: date | None
    status: str
    done_at: datetime | None
    created_at: datetime
    overdue: bool  # open and due before today (the instance's time zone)


class ParetoRowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    value: str | int | None
    label: str | None
    count: int
    share: float
    cumulative: float


class ParetoOut(BaseModel):
    by: str
    type: str | None
    since: datetime
    until: datetime
    total: int
    rows: list[ParetoRowOut]


class AgentKpiOut(BaseModel):
    """See :class:`patron.desk.quality.AgentKpi` for the definitions."""

    model_config = ConfigDict(from_attributes=True)

    agent_id: int
    name: str | None
    handled: int
    resolved: int
    first_response_minutes: float | None
    resolution_minutes: float | None
    reopened: int
    reopen_rate: float | None
    csat_average: float | None
    csat_responses: int
    csat_sent: int
    sla_met: int
    sla_missed: int
    sla_compliance: float | None


class AgentKpisOut(BaseModel):
    since: datetime
    until: datetime
    agents: list[AgentKpiOut]


class CountOut(BaseModel):
    key: str
    count: int


class DayCount(BaseModel):
    day: date
    count: int


class SlaTargetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    target: str
    met: int
    missed: int
    in_progress: int
    compliance: float | None


class CsatSummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sent: int
    responses: int
    average: float | None
    satisfied: float | None  # share of answers scoring 4 or 5
    response_rate: float | None
    distribution: dict[int, int]


class DashboardOut(BaseModel):
    since: datetime
    until: datetime
    days: int
    timezone: str
    total: int
    volume: list[DayCount]
    by_channel: list[CountOut]
    by_type: list[CountOut]
    backlog: list[CountOut]
    sla: list[SlaTargetOut]
    csat: CsatSummaryOut
    complaints_by_category: list[ParetoRowOut]
    complaints_by_root_cause: list[ParetoRowOut]
    agents: list[AgentKpiOut]
    actions_open: int
    actions_overdue: int


# -- inbound email and attachments ------------------------------------------------------------------


class AttachmentOut(BaseModel):
    """A stored attachment (its content: ``GET /api/v1/attachments/{id}``)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    message_id: int | None
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class RefusedAttachmentOut(BaseModel):
    """An attachment of an email that was not stored (the email was), and why."""

    model_config = ConfigDict(from_attributes=True)

    filename: str
    content_type: str
    size: int
    code: str  # attachment_too_large, attachment_type_not_allowed, attachment_type_mismatch, ...
    detail: str


class InboundEmailOut(BaseModel):
    """What became of an inbound email."""

    ticket_id: int | None
    reference: str | None
    message_id: int | None  # the stored message (None when ignored)
    created: bool  # a new ticket
    threaded: bool  # a message on an existing ticket
    duplicate: bool  # received before: nothing stored this time
    ignored: str | None = None  # automatic mail on no thread (auto_submitted, bulk, ...)
    automatic: str | None = None  # automatic mail kept as an internal note on its thread
    follows_up: str | None = None  # the closed ticket (reference) a new ticket follows
    attachments: list[AttachmentOut] = []
    refused: list[RefusedAttachmentOut] = []
