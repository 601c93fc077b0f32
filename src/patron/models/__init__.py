"""All ORM tables; importing this package registers every table on ``Base.metadata``."""

from patron.core.jobs import Job
from patron.models.audit import AuditEntry
from patron.models.customer import (
    Customer,
    CustomerMerge,
    CustomerTag,
    Gender,
    Identity,
    IdentityKind,
    MergeBlock,
    Tag,
    TagGroup,
)
from patron.models.event import TrackingEvent
from patron.models.ingest import (
    ImportRun,
    ImportStatus,
    QuarantineRow,
    QuarantineStatus,
    SavedMapping,
)
from patron.models.kb import KbArticle
from patron.models.order import (
    FxRate,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    RefundStatus,
    RefundType,
)
from patron.models.product import Category, Product
from patron.models.score import CustomerScore, ScoreRun, TierChange, TierPolicy
from patron.models.shop import Platform, Shop
from patron.models.ticket import (
    CategoryCorrection,
    Priority,
    SlaPolicy,
    SlaTarget,
    Team,
    Ticket,
    TicketChannel,
    TicketEvent,
    TicketMessage,
    TicketSla,
    TicketStatus,
    TicketType,
)
from patron.models.user import ApiKey, Role, User

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Category",
    "CategoryCorrection",
    "Customer",
    "CustomerMerge",
    "CustomerScore",
    "CustomerTag",
    "FxRate",
    "Gender",
    "Identity",
    "IdentityKind",
    "ImportRun",
    "ImportStatus",
    "Job",
    "KbArticle",
    "MergeBlock",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Platform",
    "Priority",
    "Product",
    "QuarantineRow",
    "QuarantineStatus",
    "Refund",
    "RefundStatus",
    "RefundType",
    "Role",
    "SavedMapping",
    "ScoreRun",
    "Shop",
    "SlaPolicy",
    "SlaTarget",
    "Tag",
    "TagGroup",
    "Team",
    "Ticket",
    "TicketChannel",
    "TicketEvent",
    "TicketMessage",
    "TicketSla",
    "TicketStatus",
    "TicketType",
    "TierChange",
    "TierPolicy",
    "TrackingEvent",
    "User",
]
