"""All SQL of the customers domain: profiles, identities, tags, merges, events and search."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import (
    Select,
    UniqueConstraint,
    bindparam,
    delete,
    extract,
    func,
    insert,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.orm import Session

from patron.core import bulk
from patron.core.db import Base
from patron.core.repository import chunked
from patron.core.time import utcnow
from patron.models import (
    Customer,
    CustomerMerge,
    CustomerTag,
    Identity,
    MergeBlock,
    Tag,
    TrackingEvent,
)

Key = tuple[str, str, str]  # (kind, namespace, value)


def find_strong_identities(session: Session, keys: Iterable[Key]) -> dict[Key, int]:
    """Customer id per strong identity key that exists."""
    wanted = set(keys)
    values = sorted({k[2] for k in wanted})
    found: dict[Key, int] = {}
    for part in chunked(values):
        rows = session.execute(
            select(Identity.kind, Identity.namespace, Identity.value, Identity.customer_id).where(
                Identity.value.in_(part), Identity.strong.is_(True)
            )
        )
        for kind, namespace, value, customer_id in rows:
            key = (kind, namespace, value)
            if key in wanted:
                found[key] = customer_id
    return found


def weak_identities_of(session: Session, customer_ids: Sequence[int]) -> set[tuple[int, Key]]:
    out: set[tuple[int, Key]] = set()
    for part in chunked(list(customer_ids)):
        rows = session.execute(
            select(Identity.customer_id, Identity.kind, Identity.namespace, Identity.value).where(
                Identity.customer_id.in_(part), Identity.strong.is_(False)
            )
        )
        out.update((cid, (k, ns, v)) for cid, k, ns, v in rows)
    return out


PROFILE_FIELDS = (
    "name", "gender", "birthday", "phone", "email", "country", "province", "city", "district", "address",
    "signup_at", "source_shop_id",
)  # fmt: skip
CUSTOMER_COLUMNS = (
    *PROFILE_FIELDS, "custom", "orders_count", "spent_minor", "profile_updated_at", "created_at",
    "updated_at",
)  # fmt: skip
FILLABLE = ("name", "phone", "email", "country", "province", "city", "district", "address", "source_shop_id")
IDENTITY_COLUMNS = ("customer_id", "kind", "namespace", "value", "strong", "created_at")


def insert_customers(session: Session, rows: Sequence[Sequence[Any]]) -> list[int]:
    """Rows are tuples in CUSTOMER_COLUMNS order; returns the new ids in order."""
    return bulk.insert_returning_ids(session, Customer.__table__, CUSTOMER_COLUMNS, rows)  # type: ignore[arg-type]


def insert_identities(session: Session, rows: Sequence[Sequence[Any]]) -> None:
    """Rows are tuples in IDENTITY_COLUMNS order."""
    bulk.insert_rows(session, Identity.__table__, IDENTITY_COLUMNS, rows)  # type: ignore[arg-type]


def fill_blank_profiles(session: Session, rows: Sequence[Sequence[Any]]) -> None:
    """Rows are (FILLABLE values…, id): only empty profile fields take the new values."""
    bulk.update_rows(session, Customer.__table__, FILLABLE, rows, fill_blanks=True)  # type: ignore[arg-type]


def load_profiles(session: Session, ids: Sequence[int]) -> dict[int, Customer]:
    out: dict[int, Customer] = {}
    for part in chunked(list(ids)):
        for c in session.scalars(select(Customer).where(Customer.id.in_(part))):
            out[c.id] = c
    return out


def blocked_pairs(session: Session, ids: Sequence[int]) -> set[tuple[int, int]]:
    if len(ids) < 2:
        return set()
    rows = session.execute(
        select(MergeBlock.customer_a, MergeBlock.customer_b).where(
            MergeBlock.customer_a.in_(ids), MergeBlock.customer_b.in_(ids)
        )
    )
    return {(min(a, b), max(a, b)) for a, b in rows}


def add_block(session: Session, a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    if session.get(MergeBlock, (lo, hi)) is None:
        session.add(MergeBlock(customer_a=lo, customer_b=hi))


def _owned_tables() -> list[Any]:
    """Every table whose rows belong to a customer through a ``customer_id`` column.

    Found from the metadata so a table added by any domain later follows merges without anyone
    remembering to register it.
    """
    return [
        t for t in Base.metadata.sorted_tables if "customer_id" in t.c and t.name not in ("customer_tags",)
    ]


def _one_per_customer(table: Any) -> list[list[Any]]:
    """The other columns of each unique constraint or index of ``table`` that includes
    ``customer_id`` (e.g. one loyalty account per customer and program)."""
    keys = [c.columns for c in table.constraints if isinstance(c, UniqueConstraint)]
    keys += [i.columns for i in table.indexes if i.unique]
    return [[c for c in cols if c.name != "customer_id"] for cols in keys if "customer_id" in cols]


def move_owned_rows(session: Session, from_id: int, to_id: int) -> dict[str, list[Any]]:
    """Reassign everything of ``from_id`` to ``to_id``; returns what moved, per table. A row
    that would be a second one of ``to_id`` where a table allows one (a loyalty account in a
    program the survivor is a member of too) stays where it is: its rows are not combined."""
    moved: dict[str, list[Any]] = {}
    for table in _owned_tables():
        pk = next(iter(table.primary_key.columns))
        mine = [table.c.customer_id == from_id]
        for others in _one_per_customer(table):
            theirs = table.alias("theirs")
            clash = select(theirs.c[pk.name]).where(
                theirs.c.customer_id == to_id, *(theirs.c[c.name] == c for c in others)
            )
            mine.append(~clash.exists())
        ids = list(session.scalars(select(pk).where(*mine)))
        if ids:
            for part in chunked(ids):
                session.execute(update(table).where(pk.in_(part)).values(customer_id=to_id))
            moved[table.name] = ids
    have = set(session.scalars(select(CustomerTag.tag_id).where(CustomerTag.customer_id == to_id)))
    tags = list(session.scalars(select(CustomerTag.tag_id).where(CustomerTag.customer_id == from_id)))
    new_tags = [t for t in tags if t not in have]
    if new_tags:
        session.execute(
            update(CustomerTag)
            .where(CustomerTag.customer_id == from_id, CustomerTag.tag_id.in_(new_tags))
            .values(customer_id=to_id)
        )
    moved["customer_tags"] = new_tags
    return moved


def restore_owned_rows(session: Session, moved: dict[str, list[Any]], to_id: int) -> None:
    tables = {t.name: t for t in _owned_tables()}
    for name, ids in moved.items():
        if not ids:
            continue
        if name == "customer_tags":
            session.execute(
                update(CustomerTag)
                .where(CustomerTag.tag_id.in_(ids), CustomerTag.customer_id != to_id)
                .values(customer_id=to_id)
            )
            continue
        table = tables.get(name)
        if table is None:
            continue
        pk = next(iter(table.primary_key.columns))
        for part in chunked(ids):
            session.execute(update(table).where(pk.in_(part)).values(customer_id=to_id))


def add_merge(session: Session, merge: CustomerMerge) -> CustomerMerge:
    session.add(merge)
    session.flush()
    return merge


def get_merge(session: Session, merge_id: int) -> CustomerMerge | None:
    return session.get(CustomerMerge, merge_id)


# The customer 360's reads run on every profile view: their statements are built once here and
# executed with parameters, which skips SQLAlchemy's per-call statement construction.
_MERGES_OF = (
    select(CustomerMerge)
    .where(or_(CustomerMerge.survivor_id == bindparam("cid"), CustomerMerge.merged_id == bindparam("cid")))
    .order_by(CustomerMerge.id)
)
_TAGS_OF = (
    select(Tag.name)
    .join(CustomerTag, CustomerTag.tag_id == Tag.id)
    .where(CustomerTag.customer_id == bindparam("cid"))
    .order_by(Tag.name)
)
_IDENTITIES_OF = (
    select(Identity).where(Identity.customer_id == bindparam("cid")).order_by(Identity.kind, Identity.id)
)
_EVENTS_OF = (
    select(TrackingEvent)
    .where(TrackingEvent.customer_id == bindparam("cid"))
    .order_by(TrackingEvent.occurred_at.desc())
    .limit(bindparam("limit"))
)


def merges_of(session: Session, customer_id: int) -> list[CustomerMerge]:
    return list(session.scalars(_MERGES_OF, {"cid": customer_id}))


def set_stats(session: Session, stats: list[dict[str, Any]]) -> None:
    bulk.update_rows(
        session,
        Customer.__table__,  # type: ignore[arg-type]
        ("orders_count", "spent_minor", "last_order_at"),
        [(s["orders_count"], s["spent_minor"], s["last_order_at"], s["id"]) for s in stats],
    )


def update_profiles(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(update(Customer), rows)


# -- tags -------------------------------------------------------------------------------------


def tag_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    names = sorted(set(names))
    found = {r[0]: r[1] for r in session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names)))}
    missing = [n for n in names if n not in found]
    if missing:
        result = session.execute(
            insert(Tag).returning(Tag.name, Tag.id, sort_by_parameter_order=True),
            [{"name": n, "created_at": utcnow()} for n in missing],
        )
        found.update({r[0]: r[1] for r in result})
    return found


def add_customer_tags(session: Session, pairs: set[tuple[int, int]], source: str) -> None:
    if not pairs:
        return
    cids = sorted({c for c, _ in pairs})
    existing: set[tuple[int, int]] = set()
    for part in chunked(cids):
        rows = session.execute(
            select(CustomerTag.customer_id, CustomerTag.tag_id).where(CustomerTag.customer_id.in_(part))
        )
        existing.update((c, t) for c, t in rows)
    new = sorted(pairs - existing)
    if new:
        now = utcnow()
        session.execute(
            insert(CustomerTag),
            [{"customer_id": c, "tag_id": t, "source": source, "created_at": now} for c, t in new],
        )


def remove_customer_tag(session: Session, customer_id: int, tag_id: int) -> int:
    result = session.execute(
        delete(CustomerTag).where(CustomerTag.customer_id == customer_id, CustomerTag.tag_id == tag_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def tags_of(session: Session, customer_id: int) -> list[str]:
    return list(session.scalars(_TAGS_OF, {"cid": customer_id}))


# -- reads ------------------------------------------------------------------------------------


def born_on(session: Session, days: Sequence[tuple[int, int]]) -> list[int]:
    """Customers (not merged away) whose birthday falls on one of ``days`` (month, day)."""
    if not days:
        return []
    month, day = extract("month", Customer.birthday), extract("day", Customer.birthday)
    return list(
        session.scalars(
            select(Customer.id)
            .where(Customer.merged_into_id.is_(None), or_(*((month == m) & (day == d) for m, d in days)))
            .order_by(Customer.id)
        )
    )


def get(session: Session, customer_id: int) -> Customer | None:
    return session.get(Customer, customer_id)


def identities_of(session: Session, customer_id: int) -> list[Identity]:
    return list(session.scalars(_IDENTITIES_OF, {"cid": customer_id}))


def insert_events(session: Session, rows: Sequence[dict[str, Any]]) -> list[str]:
    ids = [r["event_id"] for r in rows]
    have: set[str] = set()
    for part in chunked(sorted(set(ids))):
        have.update(session.scalars(select(TrackingEvent.event_id).where(TrackingEvent.event_id.in_(part))))
    new: list[dict[str, Any]] = []
    out: list[str] = []
    now = utcnow()
    for r in rows:
        if r["event_id"] in have:
            out.append("unchanged")
            continue
        have.add(r["event_id"])
        new.append({**r, "created_at": now})
        out.append("inserted")
    if new:
        session.execute(insert(TrackingEvent), new)
    return out


def insert_event_frame(session: Session, frame: pl.DataFrame) -> int:
    """Insert events given as a frame (event_id, type, occurred_at, customer_id, shop_id and
    properties as JSON text), each event id once: staged, then one ``INSERT … SELECT … ON
    CONFLICT DO NOTHING`` (looking the ids up in batches was most of the time at a million
    events, and on PostgreSQL degenerated into a scan per batch of a table growing in the same
    transaction). How many were new."""
    if frame.is_empty():
        return 0
    conn = session.connection()
    props = "CAST(s.properties AS JSONB)" if conn.dialect.name == "postgresql" else "s.properties"
    stamp = bulk.sql_time(conn, utcnow())
    with bulk.staged(session, frame) as staged:
        result = conn.exec_driver_sql(
            "INSERT INTO events (event_id, type, occurred_at, customer_id, shop_id, properties, created_at) "  # noqa: S608
            f"SELECT s.event_id, s.type, s.occurred_at, s.customer_id, s.shop_id, {props}, {stamp} "
            f'FROM "{staged}" s WHERE true ON CONFLICT (event_id) DO NOTHING'
        )
        return int(result.rowcount)


def events_of(session: Session, customer_id: int, limit: int) -> list[TrackingEvent]:
    return list(session.scalars(_EVENTS_OF, {"cid": customer_id, "limit": limit}))


@dataclass(frozen=True)
class SearchFilter:
    q: str | None = None
    tag: str | None = None
    shop_id: int | None = None
    signup_from: datetime | None = None
    signup_to: datetime | None = None
    min_orders: int | None = None
    max_orders: int | None = None
    min_spent_minor: int | None = None
    max_spent_minor: int | None = None
    # Exact identity keys derived from ``q`` (normalised phone/email), matched by index.
    identity_values: tuple[str, ...] = ()
    # A query of customer ids chosen by a higher layer (a drill-down from the analytics page).
    # customers may not import scoring, so the caller hands the query down; the list still
    # counts and pages in the database, however large the group.
    within: Select[Any] | None = None


def _search_query(f: SearchFilter) -> Select[Any]:
    query = select(Customer).where(Customer.merged_into_id.is_(None))
    if f.q:
        # Each alternative is an indexed lookup; a phone or an email is matched exactly only.
        alternatives: list[Select[Any]] = [
            select(Identity.customer_id).where(Identity.value.in_((f.q, *f.identity_values)))
        ]
        if not f.identity_values:
            alternatives.append(
                select(Customer.id).where(Customer.name >= f.q, Customer.name < f.q + "\uffff")
            )
            if f.q.isdigit() and len(f.q) < 19:
                alternatives.append(select(Customer.id).where(Customer.id == int(f.q)))
        matches = union(*alternatives) if len(alternatives) > 1 else alternatives[0]
        query = query.where(Customer.id.in_(matches))
    if f.tag:
        query = query.where(
            Customer.id.in_(
                select(CustomerTag.customer_id)
                .join(Tag, Tag.id == CustomerTag.tag_id)
                .where(Tag.name == f.tag)
            )
        )
    if f.shop_id is not None:
        query = query.where(Customer.source_shop_id == f.shop_id)
    if f.signup_from is not None:
        query = query.where(Customer.signup_at >= f.signup_from)
    if f.signup_to is not None:
        query = query.where(Customer.signup_at < f.signup_to)
    if f.min_orders is not None:
        query = query.where(Customer.orders_count >= f.min_orders)
    if f.max_orders is not None:
        query = query.where(Customer.orders_count <= f.max_orders)
    if f.min_spent_minor is not None:
        query = query.where(Customer.spent_minor >= f.min_spent_minor)
    if f.max_spent_minor is not None:
        query = query.where(Customer.spent_minor <= f.max_spent_minor)
    if f.within is not None:
        query = query.where(Customer.id.in_(f.within))
    return query


def search(session: Session, f: SearchFilter, offset: int, limit: int) -> tuple[list[Customer], int]:
    query = _search_query(f)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Customer.id.desc()).offset(offset).limit(limit)))
    return rows, int(total)


# -- frames (the columnar import path) --------------------------------------------------------


def strong_owners(session: Session, keys: pl.DataFrame) -> pl.DataFrame:
    """(kind, namespace, value, customer_id) of the strong identities among ``keys``."""
    if keys.is_empty():
        return keys.with_columns(pl.lit(None, dtype=pl.Int64).alias("customer_id")).clear()
    with bulk.staged(session, keys.select("kind", "namespace", "value")) as t:
        return bulk.read_frame(
            session,
            f"SELECT i.kind, i.namespace, i.value, i.customer_id FROM identities i "  # noqa: S608 - generated table name, no input
            f'JOIN "{t}" k ON i.value = k.value AND i.kind = k.kind AND i.namespace = k.namespace '
            "WHERE i.strong",
            {"kind": pl.Utf8, "namespace": pl.Utf8, "value": pl.Utf8, "customer_id": pl.Int64},
        )


def fillable_of(session: Session, ids: pl.Series) -> pl.DataFrame:
    """The fields an order may fill (when blank) of these customers."""
    schema: dict[str, Any] = {"id": pl.Int64, **dict.fromkeys(FILLABLE, pl.Utf8), "source_shop_id": pl.Int64}
    with bulk.staged(session, ids.alias("id").to_frame()) as t:
        cols = ", ".join(f'c."{c}"' for c in schema)
        return bulk.read_frame(session, f'SELECT {cols} FROM customers c JOIN "{t}" k ON c.id = k.id', schema)  # noqa: S608


def insert_customers_frame(session: Session, frame: pl.DataFrame) -> pl.Series:
    return bulk.insert_frame_returning_ids(session, Customer.__table__, frame)  # type: ignore[arg-type]


def insert_identities_frame(session: Session, frame: pl.DataFrame) -> None:
    bulk.insert_frame(session, Identity.__table__, frame)  # type: ignore[arg-type]


def recount_orders(
    session: Session, ids: Sequence[int], currency: str, not_counted: Sequence[str]
) -> list[int]:
    """Set orders_count, spent_minor and last_order_at of these customers from their orders in
    one statement (orders whose status is in ``not_counted`` left out). Spend is summed as if
    every order were in ``currency``: returns the customers that have orders in another one, for
    the caller to recompute with FX rates."""
    statuses = ", ".join(f"'{s}'" for s in not_counted)
    conn = session.connection()
    with bulk.staged(session, pl.Series("id", ids, dtype=pl.Int64).to_frame()) as t:
        conn.execute(
            text(
                "UPDATE customers SET orders_count = s.n, spent_minor = s.total, last_order_at = s.last "  # noqa: S608
                "FROM (SELECT k.id AS cid, count(o.id) AS n, coalesce(sum(o.total_minor), 0) AS total, "
                f'max(o.placed_at) AS last FROM "{t}" k LEFT JOIN orders o ON o.customer_id = k.id '
                f"AND o.status NOT IN ({statuses}) GROUP BY k.id) AS s WHERE customers.id = s.cid"
            )
        )
        rows = conn.execute(
            text(
                f'SELECT DISTINCT o.customer_id FROM orders o JOIN "{t}" k ON o.customer_id = k.id '  # noqa: S608
                f"WHERE o.currency <> :currency AND o.status NOT IN ({statuses})"
            ),
            {"currency": currency},
        )
        return sorted(r[0] for r in rows)


def add_order_stats(session: Session, deltas: pl.DataFrame) -> None:
    """Add new orders to the stats of customers: ``deltas`` holds customer_id, orders (n),
    spend in the reporting currency and the latest order time."""
    if deltas.is_empty():
        return
    with bulk.staged(session, deltas.select("customer_id", "n", "spent", "last")) as t:
        session.connection().exec_driver_sql(
            "UPDATE customers SET orders_count = orders_count + d.n, spent_minor = spent_minor + d.spent, "  # noqa: S608
            "last_order_at = CASE WHEN last_order_at IS NULL OR d.last > last_order_at THEN d.last "
            f'ELSE last_order_at END FROM "{t}" d WHERE customers.id = d.customer_id'
        )
