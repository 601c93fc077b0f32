"""The service desk's jobs: the SLA scan every minute, tickets for imported marketplace refunds
every ten minutes.

The scan is idempotent: a target is recorded as missed once (``breached_at`` is only set where it
is null) and warned once, so two workers or a retried job change nothing the second time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.core import jobs
from patron.core.settings import get_settings
from patron.desk import service
from patron.desk.service import config_of

SLA_SCAN_SCHEDULE = "* * * * *"
REFUND_TICKETS_SCHEDULE = "*/10 * * * *"


@jobs.job("desk.sla_scan", schedule=SLA_SCAN_SCHEDULE)
def sla_scan(session: Session) -> dict[str, Any]:
    breached, warned = service.scan(session, config=config_of(get_settings()))
    return {"breached": breached, "warned": warned}


@jobs.job("desk.refund_tickets", schedule=REFUND_TICKETS_SCHEDULE)
def refund_tickets(session: Session) -> dict[str, Any]:
    """A ticket per open marketplace refund (once per refund: safe to repeat)."""
    return {"tickets": service.tickets_from_refunds(session, config=config_of(get_settings()))}
