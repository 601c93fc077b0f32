"""Customer profiles: identity resolution (OneID), merges, tags, search and the 360 view.

Identity resolution works on batches: an import hands over thousands of claims at once, each
claim being the identities one source row knows for a person. Claims that share a strong key,
inside the batch or with stored profiles, are the same person; several stored profiles reached
by one claim are merged into the oldest. Masked phones (``138****5678``) and other weak keys are
stored for display and search but never link two profiles.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, NotFound
from patron.core.masking import mask_email, mask_identity, mask_phone
from patron.core.money import format_minor
from patron.core.parsing import FieldError, normalize_email
from patron.core.time import utcnow
from patron.customers import repository as repo
from patron.customers.schemas import (
    Customer360,
    CustomerSummary,
    EventOut,
    IdentityOut,
    LineOut,
    MergeOut,
    OrderOut,
    RefundOut,
    TimelineEntry,
)
from patron.models import Customer, CustomerMerge, IdentityKind

Key = repo.Key
PROFILE_FIELDS = repo.PROFILE_FIELDS
# When one claim reaches several profiles that must not merge, the key deciding the owner.
KEY_PRIORITY = {
    IdentityKind.external_id: 0,
    IdentityKind.buyer_nick: 1,
    IdentityKind.oaid: 1,
    IdentityKind.wechat_openid: 2,
    IdentityKind.wecom_external_userid: 2,
    IdentityKind.wechat_unionid: 3,
    IdentityKind.phone: 4,
    IdentityKind.email: 5,
}


class CustomerNotFound(NotFound):
    code = "customer_not_found"


class MergeError(Conflict):
    code = "merge_conflict"


@dataclass
class Claim:
    """What one source row says about a person."""

    strong: list[Key] = field(default_factory=list)
    weak: list[Key] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    # Customer files are authoritative for profile fields (newer source wins); orders only fill
    # blanks.
    authoritative: bool = False
    source_updated_at: datetime | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class ResolveResult:
    customer_ids: list[int | None]
    created_ids: set[int] = field(default_factory=set)
    changed_ids: set[int] = field(default_factory=set)
    merged: int = 0


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, x: object) -> object:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: object, b: object) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def resolve(session: Session, claims: Sequence[Claim], *, actor: str) -> ResolveResult:
    """Find or create the profile of every claim, merging profiles that share a strong key."""
    existing = repo.find_strong_identities(session, (k for c in claims for k in c.strong))
    uf = _UnionFind()
    for i, claim in enumerate(claims):
        uf.find(("c", i))
        for key in claim.strong:
            uf.union(("c", i), ("k", key))
            if key in existing:
                uf.union(("k", key), ("p", existing[key]))
    groups: dict[object, list[int]] = {}
    for i, claim in enumerate(claims):
        if claim.strong or claim.weak:
            groups.setdefault(uf.find(("c", i)), []).append(i)

    result = ResolveResult(customer_ids=[None] * len(claims))
    new_groups: list[list[int]] = []
    group_profiles: dict[int, list[int]] = {}
    for gi, members in enumerate(groups.values()):
        profiles = sorted({existing[k] for i in members for k in claims[i].strong if k in existing})
        if not profiles:
            new_groups.append(members)
            continue
        group_profiles[gi] = profiles
        owner = _settle_profiles(session, profiles, members, claims, existing, actor, result)
        for i in members:
            result.customer_ids[i] = owner.get(i, profiles[0])

    # New people: one profile per group, created in bulk.
    now = utcnow()
    rows = []
    for members in new_groups:
        profile = _combined_profile([claims[i] for i in members])
        profile["gender"] = profile.get("gender") or "unknown"
        profile["custom"] = profile.get("custom") or {}
        profile.update(orders_count=0, spent_minor=0, created_at=now, updated_at=now)
        profile["profile_updated_at"] = max(
            (t for i in members if (t := claims[i].source_updated_at) is not None), default=None
        )
        rows.append(tuple(profile.get(c) for c in repo.CUSTOMER_COLUMNS))
    new_ids = repo.insert_customers(session, rows)
    result.created_ids = set(new_ids)
    for members, cid in zip(new_groups, new_ids, strict=True):
        for i in members:
            result.customer_ids[i] = cid

    _store_identities(session, claims, result.customer_ids, existing, now)
    result.changed_ids = _update_profiles(session, claims, result.customer_ids, set(new_ids))
    _store_tags(session, claims, result.customer_ids)
    return result


def _settle_profiles(
    session: Session,
    profiles: list[int],
    members: list[int],
    claims: Sequence[Claim],
    existing: dict[Key, int],
    actor: str,
    result: ResolveResult,
) -> dict[int, int]:
    """Merge the profiles one group reaches; returns the owner per claim where it is not the
    survivor (only when an admin blocked a merge)."""
    if len(profiles) == 1:
        return {}
    blocked = repo.blocked_pairs(session, profiles)
    survivor = profiles[0]
    owners: dict[int, int] = {}
    for other in profiles[1:]:
        if (min(survivor, other), max(survivor, other)) in blocked:
            continue
        reason = next(
            (f"{k[0]}:{k[2]}" for i in members for k in claims[i].strong if existing.get(k) == other),
            "shared identity",
        )
        merge(session, survivor, other, reason=f"automatic: {reason}", actor=actor)
        existing.update({k: survivor for k, v in list(existing.items()) if v == other})
        result.merged += 1
    if blocked:
        for i in members:
            ranked = sorted(
                (KEY_PRIORITY.get(IdentityKind(k[0]), 9), existing[k])
                for k in claims[i].strong
                if k in existing
            )
            if ranked:
                owners[i] = ranked[0][1]
    return owners


def _combined_profile(group: Sequence[Claim]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for claim in group:
        for name, value in claim.profile.items():
            if value is not None and out.get(name) is None:
                out[name] = value
    return out


def _store_identities(
    session: Session,
    claims: Sequence[Claim],
    owners: list[int | None],
    existing: dict[Key, int],
    now: datetime,
) -> None:
    new_strong: dict[Key, int] = {}
    weak_wanted: set[tuple[int, Key]] = set()
    for claim, cid in zip(claims, owners, strict=True):
        if cid is None:
            continue
        for key in claim.strong:
            if key not in existing and key not in new_strong:
                new_strong[key] = cid
        weak_wanted.update((cid, k) for k in claim.weak)
    have_weak = repo.weak_identities_of(session, sorted({c for c, _ in weak_wanted}))
    rows = [(cid, k[0], k[1], k[2], True, now) for k, cid in new_strong.items()]
    rows += [(cid, k[0], k[1], k[2], False, now) for cid, k in sorted(weak_wanted - have_weak)]
    repo.insert_identities(session, rows)
    existing.update(new_strong)


def _update_profiles(
    session: Session, claims: Sequence[Claim], owners: list[int | None], created: set[int]
) -> set[int]:
    """Authoritative claims overwrite when newer; others only fill blank fields (in one bulk
    statement, without loading the profiles)."""
    fills = [
        (*(claim.profile.get(c) for c in repo.FILLABLE), cid)
        for claim, cid in zip(claims, owners, strict=True)
        if cid is not None and cid not in created and not claim.authoritative and claim.profile
    ]
    repo.fill_blank_profiles(session, fills)
    touched = sorted(
        {
            cid
            for c, cid in zip(claims, owners, strict=True)
            if c.authoritative and cid is not None and cid not in created
        }
    )
    if not touched:
        return set()
    profiles = repo.load_profiles(session, touched)
    changes: dict[int, dict[str, Any]] = {}
    for claim, cid in zip(claims, owners, strict=True):
        if cid is None or cid in created or cid not in profiles or not claim.authoritative:
            continue
        customer = profiles[cid]
        newer = claim.authoritative and (
            customer.profile_updated_at is None
            or (claim.source_updated_at is not None and claim.source_updated_at > customer.profile_updated_at)
        )
        for name, value in claim.profile.items():
            if value is None or name == "custom":
                continue
            current = getattr(customer, name)
            if (newer or current is None or current == "unknown") and current != value:
                setattr(customer, name, value)
                changes.setdefault(cid, {"id": cid})[name] = value
        if newer:
            if claim.profile.get("custom"):
                merged = {**(customer.custom or {}), **claim.profile["custom"]}
                if merged != customer.custom:
                    customer.custom = merged
                    changes.setdefault(cid, {"id": cid})["custom"] = merged
            customer.profile_updated_at = claim.source_updated_at
            changes.setdefault(cid, {"id": cid})["profile_updated_at"] = claim.source_updated_at
    # The objects were loaded into the session: their attribute changes flush by themselves.
    session.flush()
    return {cid for cid, c in changes.items() if set(c) - {"id", "profile_updated_at"}}


def _store_tags(session: Session, claims: Sequence[Claim], owners: list[int | None]) -> None:
    names = {t for c in claims for t in c.tags}
    if not names:
        return
    ids = repo.tag_ids(session, names)
    pairs = {(cid, ids[t]) for c, cid in zip(claims, owners, strict=True) if cid is not None for t in c.tags}
    repo.add_customer_tags(session, pairs, source="import")


# -- merges -----------------------------------------------------------------------------------


def merge(session: Session, survivor_id: int, merged_id: int, *, reason: str, actor: str) -> CustomerMerge:
    from patron.privacy import audit

    if survivor_id == merged_id:
        raise MergeError("a profile cannot be merged into itself")
    survivor, merged = repo.get(session, survivor_id), repo.get(session, merged_id)
    if survivor is None or merged is None:
        raise CustomerNotFound("customer not found", data={"ids": [survivor_id, merged_id]})
    if survivor.merged_into_id is not None or merged.merged_into_id is not None:
        raise MergeError("one of the profiles was already merged away")
    session.flush()
    moved = repo.move_owned_rows(session, merged_id, survivor_id)
    filled = {}
    for name in PROFILE_FIELDS:
        if getattr(survivor, name) in (None, "unknown") and getattr(merged, name) not in (
            None,
            "unknown",
        ):
            filled[name] = getattr(merged, name)
            setattr(survivor, name, getattr(merged, name))
    moved["filled_fields"] = sorted(filled)
    merged.merged_into_id = survivor_id
    record = repo.add_merge(
        session,
        CustomerMerge(
            survivor_id=survivor_id,
            merged_id=merged_id,
            reason=reason[:300],
            moved=moved,
            actor=actor,
        ),
    )
    _refresh_after_move(session, [survivor_id, merged_id])
    audit.record(
        session,
        actor=actor,
        action="customer.merge",
        target_type="customer",
        target_id=survivor_id,
        data={"merged_id": merged_id, "reason": reason, "merge_id": record.id},
    )
    return record


def unmerge(session: Session, merge_id: int, *, actor: str) -> CustomerMerge:
    """Undo a merge exactly: every row that moved goes back, and the pair is never auto-merged
    again."""
    from patron.privacy import audit

    record = repo.get_merge(session, merge_id)
    if record is None:
        raise NotFound("merge not found", code="merge_not_found", data={"merge_id": merge_id})
    if record.undone_at is not None:
        raise MergeError("this merge was already undone", data={"merge_id": merge_id})
    merged = repo.get(session, record.merged_id)
    survivor = repo.get(session, record.survivor_id)
    assert merged is not None
    assert survivor is not None
    moved = {k: v for k, v in record.moved.items() if k != "filled_fields"}
    repo.restore_owned_rows(session, moved, record.merged_id)
    for name in record.moved.get("filled_fields", []):
        if getattr(survivor, name) == getattr(merged, name):
            setattr(survivor, name, None if name != "gender" else "unknown")
    merged.merged_into_id = None
    record.undone_at = utcnow()
    record.undone_by = actor
    repo.add_block(session, record.survivor_id, record.merged_id)
    session.flush()
    _refresh_after_move(session, [record.survivor_id, record.merged_id])
    audit.record(
        session,
        actor=actor,
        action="customer.unmerge",
        target_type="customer",
        target_id=record.merged_id,
        data={"merge_id": merge_id, "survivor_id": record.survivor_id},
    )
    return record


def _refresh_after_move(session: Session, ids: list[int]) -> None:
    from patron.core.settings import get_settings

    session.flush()
    refresh_stats(session, ids, get_settings().reporting_currency)


def merges_of(session: Session, customer_id: int) -> list[CustomerMerge]:
    return repo.merges_of(session, customer_id)


# -- reads and edits --------------------------------------------------------------------------


def get(session: Session, customer_id: int, *, follow_merge: bool = True) -> Customer:
    customer = repo.get(session, customer_id)
    seen = set()
    while customer is not None and follow_merge and customer.merged_into_id is not None:
        if customer.id in seen:
            break
        seen.add(customer.id)
        customer = repo.get(session, customer.merged_into_id)
    if customer is None:
        raise CustomerNotFound(f"customer {customer_id} not found", data={"id": customer_id})
    return customer


def refresh_stats(session: Session, customer_ids: Sequence[int], reporting_currency: str) -> None:
    """Recompute the denormalised order count, spend and last order time used by list filters."""
    from patron.commerce import service as commerce

    # One statement for all; customers with orders in other currencies again with FX rates.
    ids = repo.recount_orders(session, sorted(customer_ids), reporting_currency, commerce.NOT_COUNTED)
    if ids:
        repo.set_stats(session, commerce.customer_totals(session, ids, reporting_currency))


def add_order_stats(session: Session, orders: pl.DataFrame, reporting_currency: str) -> set[int]:
    """Count newly stored orders (customer_id, status, currency, total_minor, placed_at) into
    their customers' stats without recounting every order of theirs. Orders in another currency
    need FX: their customers are returned for :func:`refresh_stats` instead."""
    from patron.commerce import service as commerce

    valid = orders.filter(pl.col("customer_id").is_not_null() & ~pl.col("status").is_in(commerce.NOT_COUNTED))
    foreign = valid.filter(pl.col("currency") != reporting_currency)["customer_id"].unique()
    deltas = (
        valid.filter(~pl.col("customer_id").is_in(foreign.implode()))
        .group_by("customer_id")
        .agg(n=pl.len().cast(pl.Int64), spent=pl.col("total_minor").sum(), last=pl.col("placed_at").max())
    )
    repo.add_order_stats(session, deltas)
    return set(foreign.to_list())


def record_events(session: Session, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Store tracking events once per event id; a re-sent id is 'unchanged'."""
    return repo.insert_events(session, rows)


def born_on(session: Session, day: date) -> list[int]:
    """The customers whose birthday is ``day`` (those born on 29 February on 28 February when the
    year has no 29th)."""
    days = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        days.append((2, 29))
    return repo.born_on(session, days)


def record_event_frame(session: Session, frame: pl.DataFrame) -> int:
    """Store many events at once (columns event_id, type, occurred_at, customer_id, shop_id,
    properties as JSON text), each event id once; how many were new."""
    return repo.insert_event_frame(session, frame)


def add_tag(session: Session, customer_id: int, name: str, *, actor: str) -> None:
    get(session, customer_id, follow_merge=False)
    ids = repo.tag_ids(session, [name.strip()])
    repo.add_customer_tags(session, {(customer_id, ids[name.strip()])}, source="manual")


def remove_tag(session: Session, customer_id: int, name: str) -> bool:
    ids = repo.tag_ids(session, [name])
    return repo.remove_customer_tag(session, customer_id, ids[name]) > 0


# -- search and the 360 view ------------------------------------------------------------------

SearchFilter = repo.SearchFilter


def search(
    session: Session,
    f: SearchFilter,
    *,
    offset: int,
    limit: int,
    reporting_currency: str,
    pii: bool,
) -> tuple[list[CustomerSummary], int]:
    """Find customers by name prefix, id, or any identity (phone and email are normalised first,
    so '138 1234 5678' finds '+8613812345678')."""
    if f.q:
        f = _with_identity_values(f)
    rows, total = repo.search(session, f, offset, limit)
    shops = _shop_codes(session)
    return [_summary(c, shops, reporting_currency, pii) for c in rows], total


def _with_identity_values(f: SearchFilter) -> SearchFilter:
    from dataclasses import replace

    from patron.core.parsing import FieldError, normalize_email, normalize_phone

    q = (f.q or "").strip()
    values: list[str] = []
    for fn in (lambda v: normalize_phone(v).e164, normalize_email):
        try:
            value = fn(q)
        except FieldError:
            continue
        if value:
            values.append(value)
    return replace(f, q=q, identity_values=tuple(values))


def _shop_codes(session: Session) -> dict[int, str]:
    from patron.commerce import service as commerce

    return commerce.shop_codes(session)


def _summary(c: Customer, shops: dict[int, str], currency: str, pii: bool) -> CustomerSummary:
    return CustomerSummary(
        id=c.id,
        name=c.name,
        gender=c.gender,
        birthday=c.birthday,
        phone=c.phone if pii else mask_phone(c.phone),
        email=c.email if pii else mask_email(c.email),
        country=c.country,
        province=c.province,
        city=c.city,
        district=c.district,
        address=c.address if pii else None,
        signup_at=c.signup_at,
        source_shop=shops.get(c.source_shop_id) if c.source_shop_id else None,
        orders_count=c.orders_count,
        spent_minor=c.spent_minor,
        spent_currency=currency,
        last_order_at=c.last_order_at,
    )


def profile_360(
    session: Session, customer_id: int, *, reporting_currency: str, pii: bool, limit: int = 50
) -> Customer360:
    from patron.commerce import service as commerce

    customer = get(session, customer_id)
    shops = _shop_codes(session)
    identities = [
        IdentityOut(
            kind=i.kind,
            namespace=i.namespace,
            strong=i.strong,
            value=i.value if pii else mask_identity(i.kind, i.value),
        )
        for i in repo.identities_of(session, customer.id)
    ]
    orders = [
        OrderOut(
            id=v.order.id,
            shop=shops.get(v.order.shop_id, "?"),
            external_id=v.order.external_id,
            status=v.order.status,
            raw_status=v.order.raw_status,
            currency=v.order.currency,
            total_minor=v.order.total_minor,
            discount_minor=v.order.discount_minor,
            shipping_minor=v.order.shipping_minor,
            coupon_code=v.order.coupon_code,
            placed_at=v.order.placed_at,
            paid_at=v.order.paid_at,
            shipped_at=v.order.shipped_at,
            delivered_at=v.order.delivered_at,
            lines=[
                LineOut(
                    sku=ln.sku,
                    title=ln.title,
                    quantity=ln.quantity,
                    unit_price_minor=ln.unit_price_minor,
                    total_minor=ln.total_minor,
                )
                for ln in v.lines
            ],
        )
        for v in commerce.orders_with_lines(session, customer.id, limit)
    ]
    refunds = [
        RefundOut(
            id=r.id,
            shop=shops.get(r.shop_id, "?"),
            external_id=r.external_id,
            order_id=r.order_id,
            type=r.type,
            status=r.status,
            reason=r.reason,
            amount_minor=r.amount_minor,
            currency=r.currency,
            requested_at=r.requested_at,
            completed_at=r.completed_at,
        )
        for r in commerce.refunds_of(session, customer.id, limit)
    ]
    events = [
        EventOut(event_id=e.event_id, type=e.type, occurred_at=e.occurred_at, properties=e.properties)
        for e in repo.events_of(session, customer.id, limit)
    ]
    merges = [MergeOut.model_validate(m) for m in repo.merges_of(session, customer.id)]
    return Customer360(
        customer=_summary(customer, shops, reporting_currency, pii),
        custom=customer.custom or {},
        masked=not pii,
        identities=identities,
        tags=repo.tags_of(session, customer.id),
        orders=orders,
        # The count needs a query only when the page of orders is full.
        orders_total=len(orders) if len(orders) < limit else commerce.count_orders_of(session, customer.id),
        refunds=refunds,
        events=events,
        merges=merges,
        timeline=_timeline(customer, orders, refunds, events, merges),
    )


def _timeline(
    customer: Customer,
    orders: list[OrderOut],
    refunds: list[RefundOut],
    events: list[EventOut],
    merges: list[MergeOut],
) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    if customer.signup_at:
        entries.append(TimelineEntry(at=customer.signup_at, kind="signup", title="signup"))
    for o in orders:
        entries.append(
            TimelineEntry(
                at=o.placed_at,
                kind="order",
                title=o.external_id,
                detail=f"{o.status} · {format_minor(o.total_minor, o.currency)} {o.currency}",
                ref=f"order:{o.id}",
            )
        )
        if o.delivered_at:
            entries.append(TimelineEntry(at=o.delivered_at, kind="delivered", title=o.external_id))
    for r in refunds:
        at = r.completed_at or r.requested_at
        if at:
            entries.append(
                TimelineEntry(
                    at=at,
                    kind="refund",
                    title=r.external_id,
                    detail=f"{r.type} {r.status} · {format_minor(r.amount_minor, r.currency)} {r.currency}",
                )
            )
    for e in events:
        entries.append(
            TimelineEntry(
                at=e.occurred_at,
                kind="event",
                title=e.type,
                detail=str(e.properties.get("sku") or e.properties.get("query") or "") or None,
            )
        )
    for m in merges:
        entries.append(
            TimelineEntry(
                at=m.created_at,
                kind="merge",
                title=f"#{m.merged_id} → #{m.survivor_id}",
                detail=m.reason,
                ref=f"merge:{m.id}",
            )
        )
    entries.sort(key=lambda t: t.at, reverse=True)
    return entries


# -- set-wise resolution (the columnar import path) -------------------------------------------

ORDER_PROFILE = repo.FILLABLE


def resolve_frame(
    session: Session, n: int, strong: pl.DataFrame, weak: pl.DataFrame, profiles: pl.DataFrame, *, actor: str
) -> pl.Series:
    """:func:`resolve` for ``n`` non-authoritative claims given as columns, at a few column
    operations per batch instead of Python work per claim: the customer id of every claim.

    ``strong`` and ``weak`` hold the keys (``i``, kind, namespace, value) of claim ``i``;
    ``profiles`` one row per claim (``i`` and :data:`ORDER_PROFILE`). Claims linked by shared
    keys form connected components; a component reaching no stored profile becomes one new
    profile, one reaching a single profile joins it, and the rare one reaching several (a merge)
    goes through :func:`resolve` with its exact merge and block rules.
    """
    now = utcnow()
    keys = strong.select("kind", "namespace", "value").unique(maintain_order=True).with_row_index("k")
    owners = repo.strong_owners(session, keys)
    keys = keys.join(owners, on=["kind", "namespace", "value"], how="left", maintain_order="left")
    edges = strong.join(keys, on=["kind", "namespace", "value"], maintain_order="left")
    size = n + keys.height
    graph = coo_matrix(
        (np.ones(edges.height, dtype=np.int8), (edges["i"].to_numpy(), edges["k"].to_numpy() + n)),
        shape=(size, size),
    )
    _, labels = connected_components(graph, directed=False)
    comp = pl.Series("comp", labels[:n], dtype=pl.Int64)
    edges = edges.with_columns(comp=pl.Series(labels[edges["k"].to_numpy() + n], dtype=pl.Int64))
    reached = (
        edges.filter(pl.col("customer_id").is_not_null())
        .group_by("comp")
        .agg(pl.col("customer_id").unique().alias("owners"))
    )
    claims = (
        profiles.sort("i")
        .with_columns(comp)
        .join(reached, on="comp", how="left", maintain_order="left")
        .with_columns(
            has_strong=pl.col("i").is_in(strong["i"].implode()),
            has_weak=pl.col("i").is_in(weak["i"].implode()),
            owned=pl.col("owners").list.len().fill_null(0),
        )
    )
    ids = pl.Series("customer_id", [None] * n, dtype=pl.Int64)

    # Several stored profiles: the exact path (merges, blocks), one claim object each.
    several = claims.filter(pl.col("owned") > 1)["i"].to_list()
    if several:
        exact = _claims_of(several, strong, weak, profiles)
        ids = ids.scatter(several, resolve(session, exact, actor=actor).customer_ids)

    # One stored profile: join it, filling its blank fields.
    joined = claims.filter(pl.col("owned") == 1).with_columns(pl.col("owners").list.first().alias("cid"))
    if not joined.is_empty():
        ids = ids.scatter(joined["i"], joined["cid"])
        _fill_blanks(session, joined)

    # No stored profile: one new profile per component, numbered in claim order.
    fresh = claims.filter((pl.col("owned") == 0) & (pl.col("has_strong") | pl.col("has_weak")))
    if not fresh.is_empty():
        # A claim with weak keys only is a component of its own (weak keys never link claims).
        fresh = fresh.with_columns(pl.when("has_strong").then(pl.col("comp")).otherwise(-1 - pl.col("i")))
        people = fresh.group_by("comp", maintain_order=True).agg(
            *(pl.col(f).drop_nulls().first() for f in ORDER_PROFILE)
        )
        rows = people.select(
            *(pl.col(f) for f in ORDER_PROFILE),
            gender=pl.lit("unknown"),
            custom=pl.lit("{}"),
            orders_count=pl.lit(0, dtype=pl.Int64),
            spent_minor=pl.lit(0, dtype=pl.Int64),
            created_at=pl.lit(now, dtype=pl.Datetime("us", "UTC")),
            updated_at=pl.lit(now, dtype=pl.Datetime("us", "UTC")),
        )
        people = people.with_columns(repo.insert_customers_frame(session, rows).alias("cid"))
        fresh = fresh.join(people.select("comp", "cid"), on="comp", maintain_order="left")
        ids = ids.scatter(fresh["i"], fresh["cid"])

    # Keys no profile had yet now belong to their claim's customer (claims hold every i in
    # order, so ids line up with their rows).
    owned_by = claims.with_columns(cid=ids).filter(pl.col("owned") <= 1).select("i", "cid")
    new_keys = (
        edges.filter(pl.col("customer_id").is_null())
        .join(owned_by, on="i")
        .unique(["k"], keep="first", maintain_order=True)
        .select(customer_id="cid", kind="kind", namespace="namespace", value="value", strong=pl.lit(True))
    )
    weak_keys = (
        weak.join(owned_by, on="i")
        .filter(pl.col("cid").is_not_null())
        .select(customer_id="cid", kind="kind", namespace="namespace", value="value", strong=pl.lit(False))
        .unique(maintain_order=True)
    )
    if not weak_keys.is_empty():
        have = repo.weak_identities_of(session, weak_keys["customer_id"].unique().to_list())
        stored = pl.DataFrame(
            [(c, k[0], k[1], k[2]) for c, k in have],
            schema={"customer_id": pl.Int64, "kind": pl.Utf8, "namespace": pl.Utf8, "value": pl.Utf8},
            orient="row",
        )
        weak_keys = weak_keys.join(stored, on=["customer_id", "kind", "namespace", "value"], how="anti")
    repo.insert_identities_frame(
        session,
        pl.concat([new_keys, weak_keys]).with_columns(created_at=pl.lit(now, dtype=pl.Datetime("us", "UTC"))),
    )
    return ids


def _claims_of(
    indices: list[int], strong: pl.DataFrame, weak: pl.DataFrame, profiles: pl.DataFrame
) -> list[Claim]:
    wanted = pl.Series(indices).implode()
    out = {i: Claim() for i in indices}
    for i, kind, ns, value in (
        strong.filter(pl.col("i").is_in(wanted)).select("i", "kind", "namespace", "value").iter_rows()
    ):
        out[i].strong.append((kind, ns, value))
    for i, kind, ns, value in (
        weak.filter(pl.col("i").is_in(wanted)).select("i", "kind", "namespace", "value").iter_rows()
    ):
        out[i].weak.append((kind, ns, value))
    for row in profiles.filter(pl.col("i").is_in(wanted)).iter_rows(named=True):
        out[row.pop("i")].profile = row
    return [out[i] for i in indices]


def _fill_blanks(session: Session, joined: pl.DataFrame) -> None:
    """Blank fields of stored profiles take the first value the batch's claims give."""
    offered = joined.group_by("cid", maintain_order=True).agg(
        *(pl.col(f).drop_nulls().first() for f in repo.FILLABLE)
    )
    stored = repo.fillable_of(session, offered["cid"]).rename({"id": "cid"})
    both = offered.join(stored, on="cid", suffix="_stored")
    gains = pl.any_horizontal(
        pl.col(f"{f}_stored").is_null() & pl.col(f).is_not_null() for f in repo.FILLABLE
    )
    changed = both.filter(gains).select(*repo.FILLABLE, "cid")
    if not changed.is_empty():
        repo.fill_blank_profiles(session, changed.rows())


def find_by_email(session: Session, email: str) -> int | None:
    """The customer who owns this email address (normalised), if any."""
    try:
        key = ("email", "", normalize_email(email))
    except FieldError:
        return None
    return repo.find_strong_identities(session, [key]).get(key)
