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
