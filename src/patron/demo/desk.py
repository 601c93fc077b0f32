"""The demo shop's service desk: a team with business hours, SLA policies, agents, the default
knowledge base, canned replies, and tickets of the last days (complaints from the classifier's
corpus, questions, marketplace refunds) in every state, so the queue, the ticket page and the
SLA clocks show what they do. Times are relative to ``now``: the clocks are live."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session

from patron.accounts import service as accounts
from patron.commerce import service as commerce
from patron.desk import aftersales, kb, routing, service
from patron.desk.classifier import default_corpus
from patron.desk.service import DeskConfig, NewTicket

AGENTS = (("lin@patron.local", "林晓 Lin", True, 100_000), ("sam@patron.local", "Sam Carter", False, 30_000))
QUESTIONS = (
    ("zh", "发票怎么开", "你好，上周买的东西需要开增值税专用发票，公司抬头怎么填？"),
    ("zh", "什么时候发货", "拍下三天了还显示待发货，请问什么时候能发？"),
    ("zh", "尺码问题", "平时穿M，这款偏大还是偏小？想换个尺码可以吗"),
    ("en", "Change my address", "I moved last week, can you ship my order to my new address instead?"),
    ("en", "Points expiring?", "Do my points expire at the end of the year? I have about 2,000."),
    ("zh", "优惠券用不了", "领的满300减50券结算时用不了，提示不满足条件，明明满了"),
)
CANNED = (
    (
        "refund_done",
        "zh",
        "{customer_name}您好，工单 {ticket} 的退款已处理，原路退回，约1-3个工作日到账。{agent}",
    ),
    ("refund_done", "en", "Hi {customer_name}, the refund for {ticket} is done: 1-3 working days. {agent}"),
    ("need_photos", "zh", "{customer_name}您好，麻烦提供商品问题的照片（含外包装），我们马上处理。"),
    ("need_photos", "en", "Hi {customer_name}, could you send photos of the item and its box?"),
)
GOT_IT = {"zh": "您好，已收到，正在为您处理。", "en": "Thanks, we're on it."}


def seed(session: Session, *, now: datetime, password: str, seed_: int = 7) -> int:
    """Set the desk up and open the demo tickets; returns how many tickets there are."""
    rng = random.Random(seed_)
    if service.teams(session):  # set up by an earlier `patron demo`
        return service.queue(session, service.QueueFilter(), offset=0, limit=1)[1]
    kb.load_defaults(session)
    daily = {d: [(time(9), time(22))] for d in range(7)}
    team = service.create_team(session, name="售后客服 After-sales", timezone="Asia/Shanghai", hours=daily)
    for values in (
        {"name": "Severe complaints", "position": 10, "match": {"severity": ["S1", "S2"]},
         "first_response_minutes": 30, "next_response_minutes": 60, "resolution_minutes": 480},
        {"name": "VIP customers", "position": 20, "match": {"tier": ["high_value"]},
         "first_response_minutes": 60, "next_response_minutes": 120, "resolution_minutes": 960},
        {"name": "Standard", "position": 90, "first_response_minutes": 240, "next_response_minutes": 480,
         "resolution_minutes": 2880},
    ):  # fmt: skip
        service.create_policy(session, values)
    agents = []
    for email, name, vip, limit in AGENTS:
        user = accounts.user_by_email(session, email) or accounts.create_user(
            session, email=email, name=name, password=password, role="agent"
        )
        aftersales.set_agent(
            session, user.id, refund_limit_minor=limit, capacity=25, vip=vip, team_id=team.id
        )
        agents.append(user)
    aftersales.set_policy(session, shop_id=None, category=None, window_days=7)
    for name, lang, body in CANNED:
        routing.save_canned(session, name=name, lang=lang, body=body)
    config = DeskConfig(timezone="Asia/Shanghai")
    orders = commerce.latest_orders(session, 200)
    complaints = list(default_corpus())
    rng.shuffle(complaints)
    made = []
    for i, row in enumerate(complaints[:24] + [None] * len(QUESTIONS)):
        order = orders[i % len(orders)] if orders else None
        opened = now - timedelta(minutes=rng.randint(20, 36 * 60))
        if row is None:
            lang, subject, body = QUESTIONS[i - 24]
            kind = "inquiry"
        else:
            lang, subject, body, kind = row["lang"], row["text"][:40], row["text"], "complaint"
        made.append(
            service.create(
                session,
                NewTicket(
                    subject=subject,
                    body=body,
                    type=kind,
                    channel="web",
                    language=lang,
                    team_id=team.id,
                    order_id=order.id if order else None,
                ),
                actor="demo",
                config=config,
                now=opened,
            )
        )
    # Work on about half of them: replies, waiting on the customer, resolved.
    for ticket in made:
        step = rng.random()
        if step < 0.55:
            agent = agents[ticket.id % 2]
            at = ticket.created_at + timedelta(minutes=rng.randint(5, 300))
            if at >= now:
                continue
            text = GOT_IT.get(ticket.language, GOT_IT["en"])
            service.reply(
                session, ticket.id, text, author=agent.name, author_user_id=agent.id, config=config, now=at
            )
            if step < 0.2:
                done = min(now, at + timedelta(minutes=30))
                service.set_status(session, ticket.id, "resolved", actor=agent.name, config=config, now=done)
            elif step < 0.35:
                service.set_status(
                    session, ticket.id, "waiting_customer", actor=agent.name, config=config, now=at
                )
    service.tickets_from_refunds(session, config=config, limit=20)
    service.scan(session, now=now)
    return service.queue(session, service.QueueFilter(), offset=0, limit=1)[1]
