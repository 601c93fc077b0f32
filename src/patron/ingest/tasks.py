"""Running an import: the unit that owns the transactions.

Under the default policy ("keep") every chunk of rows commits on its own together with its
quarantine rows and the run's checkpoint, so a killed import loses at most one chunk and the
next run of the same file resumes after the checkpoint. Under "reject" the whole file is one
transaction that is rolled back if any row is bad. A dry run is a full run rolled back at the
end, so it reports exactly what a real run would do, including errors that need the database
(an unknown order), and writes nothing at all.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from patron.commerce import service as commerce
from patron.core.db import get_engine, session_factory, session_scope
from patron.core.errors import InvalidInput
from patron.core.parsing import clean_cell
from patron.core.settings import Settings, get_settings
from patron.customers import service as customers
from patron.ingest import mappings, orders_frame, readers, service
from patron.ingest.records import GROUPED, Context, Parsed, RowError, apply, parse
from patron.ingest.service import Summary

Progress = Callable[[int, float | None], None]
MAX_ERRORS_IN_SUMMARY = 1000


@dataclass
class ImportRequest:
    kind: str
    path: Path
    mapping: str | None = None
    shop: str | None = None
    policy: str = "keep"
    dry_run: bool = False
    encoding: str | None = None
    actor: str = "cli"
    display_name: str | None = None


Row = tuple[int, int, dict[str, Any]]  # (ordinal in the file, row number shown to users, canonical row)


class _Chunker:
    """Buffers canonical rows and hands them to ``flush`` in chunks that never split a group
    (an order's lines), with the checkpoint the chunk completes."""

    def __init__(self, kind: str, size: int, flush: Callable[[list[Row], int], None]) -> None:
        self.grouped = kind in GROUPED
        self.size = size
        self.flush = flush
        self.items: list[Row] = []

    def add(self, row: Row) -> None:
        self.items.append(row)
        if len(self.items) >= self.size:
            self._emit(final=False, next_ordinal=row[0] + 1)

    def finish(self, next_ordinal: int) -> None:
        self._emit(final=True, next_ordinal=next_ordinal)

    def _emit(self, final: bool, next_ordinal: int) -> None:
        ready, carry = self.items, []
        if self.grouped and not final and self.items:
            last = clean_cell(self.items[-1][2].get("order_id"))
            cut = len(self.items)
            while cut > 0 and clean_cell(self.items[cut - 1][2].get("order_id")) == last:
                cut -= 1
            if cut > 0:
                ready, carry = self.items[:cut], self.items[cut:]
        self.items = carry
        # Rows before the first carried row are done once ``ready`` commits.
        checkpoint = carry[0][0] if carry else next_ordinal
        self.flush(ready, checkpoint)


def _parse_and_apply(
    kind: str, session: Session, rows: list[Row], ctx: Context
) -> tuple[list[str], list[RowError]]:
    """Outcomes of the good rows and every error of the chunk."""
    if kind == "orders":
        frame, errors = orders_frame.parse_chunk([(n, c) for _, n, c in rows], ctx, ctx.shop)
        outcomes = orders_frame.apply(session, frame, ctx)
        return list(outcomes.values()), errors
    parsed: list[Parsed] = []
    errors = []
    for _, n, canon in rows:
        item, errs = parse(kind, n, canon, ctx)
        if errs:
            errors.extend(errs)
        elif item is not None:
            parsed.append(item)
    done: list[str] = []
    for outcome in apply(kind, session, parsed, ctx) if parsed else []:
        if isinstance(outcome, RowError):
            errors.append(outcome)
        else:
            done.append(outcome)
    return done, errors


def run_import(
    req: ImportRequest,
    *,
    engine: Engine | None = None,
    progress: Progress | None = None,
    on_started: Callable[[int], None] | None = None,
    settings: Settings | None = None,
) -> Summary:
    """Import one file; ``on_started`` receives the run id once it is committed (web uploads
    redirect to the run's page and watch it progress)."""
    engine = engine or get_engine()
    settings = settings or get_settings()
    if req.policy not in service.POLICIES:
        raise InvalidInput(
            f"unknown error policy {req.policy!r}",
            code="unknown_policy",
            data={"allowed": list(service.POLICIES)},
        )
    started = time.perf_counter()
    with session_scope(engine) as s:
        mapping = service.resolve_mapping(s, req.kind, req.mapping)
        shops = service.shops_by_code(s)
        shop = commerce.get_shop(s, req.shop) if req.shop else None
        catalog = commerce.ProductCatalog(s)
    sha = readers.file_sha256(req.path)
    with readers.open_rows(req.path, encoding=req.encoding) as src:
        service.check_header(mapping, src.columns)
        rename = mapping.renamer(src.columns)
        summary = Summary(
            kind=req.kind,
            mapping=mapping.name,
            file=req.display_name or req.path.name,
            format=src.format,
            encoding=src.encoding,
            status="running",
            dry_run=req.dry_run,
            policy=req.policy,
        )
        ctx = Context(
            mapping=mapping,
            shops=shops,
            shop=shop,
            actor=req.actor,
            reporting_currency=settings.reporting_currency,
            catalog=catalog,
        )
        single = req.dry_run or req.policy == "reject"
        factory = session_factory(engine)
        if single:
            session = factory()
            try:
                chunks = _Chunks(summary, ctx, src, session, None, progress, single=True)
                errors, bad_raws = _stream(src, rename, req, ctx, chunks, 0, settings.import_chunk_rows)
                if req.dry_run or errors:
                    session.rollback()
                if req.dry_run:
                    summary.status = "dry_run"
                elif errors:
                    summary.status = "rejected"
                    summary.inserted = summary.updated = summary.unchanged = 0
                    _record_single(factory, req, summary, sha, shop, errors, bad_raws)
                else:
                    summary.status = "completed"
                    _record_single(factory, req, summary, sha, shop, [], {}, session)
                    session.commit()
            finally:
                session.close()
        else:
            with session_scope(engine) as s:
                run = service.start_run(s, summary, sha, shop.code if shop else None, req.actor)
                run_id, skip = run.id, run.checkpoint_row
                summary.run_id = run_id
                summary.resumed_from = run.resumed_from
                summary.resumed_after_row = skip
                for name in ("rows_read", "inserted", "updated", "unchanged", "quarantined"):
                    setattr(summary, name, getattr(run, name))
            if on_started is not None:
                on_started(run_id)
            try:
                chunks = _Chunks(summary, ctx, src, None, factory, progress, single=False)
                _stream(src, rename, req, ctx, chunks, skip, settings.import_chunk_rows)
            except Exception as exc:
                summary.status = "failed"
                with session_scope(engine) as s:
                    service.finish_run(s, run_id, summary, error=f"{type(exc).__name__}: {exc}")
                raise
            summary.status = "completed"
            with session_scope(engine) as s:
                service.finish_run(s, run_id, summary)
    summary.duration_s = round(time.perf_counter() - started, 3)
    summary.rows_per_s = round(summary.rows_read / summary.duration_s, 1) if summary.duration_s else 0.0
    return summary


def _record_single(
    factory: Callable[[], Session],
    req: ImportRequest,
    summary: Summary,
    sha: str,
    shop: Any,
    errors: list[RowError],
    raws: dict[int, dict[str, Any]],
    session: Session | None = None,
) -> None:
    """Write the run record of a single-transaction import (with its quarantine when rejected)."""
    own = session is None
    s = session or factory()
    try:
        run = service.start_run(s, summary, sha, shop.code if shop else None, req.actor)
        summary.run_id = run.id
        service.quarantine(s, run.id, errors, raws)
        service.finish_run(s, run.id, summary)
        if own:
            s.commit()
    finally:
        if own:
            s.close()


Work = Callable[[Session], tuple[list[str], list[RowError], dict[int, dict[str, Any]]]]


class _Chunks:
    """What every chunk does after parsing and applying its rows: count outcomes, refresh the
    customers it touched, quarantine its errors and, outside a single transaction, commit with
    the checkpoint. Shared by the row stream and the frame stream."""

    def __init__(
        self,
        summary: Summary,
        ctx: Context,
        src: readers.RowSource,
        session: Session | None,
        factory: Callable[[], Session] | None,
        progress: Progress | None,
        *,
        single: bool,
    ) -> None:
        self.summary, self.ctx, self.src = summary, ctx, src
        self.session, self.factory, self.progress, self.single = session, factory, progress, single
        self.count = 0
        self.errors: list[RowError] = []
        self.bad_raws: dict[int, dict[str, Any]] = {}

    def run(self, work: Work, checkpoint: int) -> list[RowError]:
        """Do one chunk's work and book it; returns the chunk's errors."""
        summary, ctx = self.summary, self.ctx
        s = self.session if self.session is not None else self.factory()  # type: ignore[misc]
        # A chunk allocates hundreds of thousands of short-lived objects and no cycles; the
        # cyclic collector's full passes over them cost more than the work itself.
        gc.disable()
        try:
            outcomes, errors, raws = work(s)
            for outcome in outcomes:
                setattr(summary, outcome, getattr(summary, outcome) + 1)
            if ctx.touched_customers:
                customers.refresh_stats(s, sorted(ctx.touched_customers), ctx.reporting_currency)
                ctx.touched_customers.clear()
            summary.quarantined += len({e.row for e in errors})
            summary.rows_read = checkpoint
            for code in (e.code for e in errors):
                summary.quarantined_by_code[code] = summary.quarantined_by_code.get(code, 0) + 1
            if self.single:
                self.errors.extend(errors)
                self.bad_raws.update((e.row, raws.get(e.row, {})) for e in errors)
            else:
                service.quarantine(s, summary.run_id or 0, errors, raws)
                service.save_progress(s, summary.run_id or 0, summary, checkpoint, self.src.fraction_done())
                s.commit()
                self.count += 1
                if self.count & (self.count - 1) == 0:  # after chunks 1, 2, 4, 8, …: tables doubled
                    service.refresh_planner_statistics(s)
                    s.commit()
        except BaseException:
            if self.session is None:
                s.rollback()
            raise
        finally:
            gc.enable()
            if self.session is None:
                s.close()
        if self.progress is not None:
            self.progress(summary.rows_read, self.src.fraction_done())
        return errors

    def finish(self) -> tuple[list[RowError], dict[int, dict[str, Any]]]:
        summary = self.summary
        summary.quarantined_by_code = dict(sorted(summary.quarantined_by_code.items()))
        if self.single:
            summary.errors = [
                {"row": e.row, "column": e.column, "code": e.code, "message": e.message, "value": e.value}
                for e in self.errors[:MAX_ERRORS_IN_SUMMARY]
            ]
        return self.errors, self.bad_raws


def _stream(
    src: readers.RowSource,
    rename: Callable[[dict[str, Any]], dict[str, Any]],
    req: ImportRequest,
    ctx: Context,
    chunks: _Chunks,
    skip: int,
    chunk_rows: int,
) -> tuple[list[RowError], dict[int, dict[str, Any]]]:
    """Read, parse and apply every row. Under ``single`` returns every error and the source rows
    they came from (the caller writes the quarantine after its transaction ends)."""
    frames = src.frames(chunk_rows) if req.kind == "orders" else None
    frame_rename = ctx.mapping.frame_renamer(src.columns) if frames is not None else None
    if frames is not None and frame_rename is not None:
        for source, renamed, checkpoint in _frame_chunks(frames, frame_rename, skip):
            chunks.run(_frame_work(source, renamed, ctx), checkpoint)
        return chunks.finish()

    pending: list[tuple[int, RowError]] = []
    raws: dict[int, dict[str, Any]] = {}

    def flush(ready: list[Row], checkpoint: int) -> None:
        def work(s: Session) -> tuple[list[str], list[RowError], dict[int, dict[str, Any]]]:
            nonlocal pending
            outcomes, errors = _parse_and_apply(req.kind, s, ready, ctx) if ready else ([], [])
            errors = [e for o, e in pending if o < checkpoint] + errors
            pending = [(o, e) for o, e in pending if o >= checkpoint]
            return outcomes, errors, raws

        errors = chunks.run(work, checkpoint)
        for _, n, _ in ready:
            raws.pop(n, None)
        for e in errors:
            raws.pop(e.row, None)

    chunker = _Chunker(req.kind, chunk_rows, flush)
    ordinal = -1
    for ordinal, (n, raw) in enumerate(src):
        # Renaming runs on skipped rows too: some mappings carry state from row to row.
        canon = rename(raw) if "__error__" not in raw else raw
        if ordinal < skip:
            continue
        raws[n] = raw
        if "__error__" in raw:
            code, _, message = str(raw["__error__"]).partition(":")
            pending.append((ordinal, RowError(n, None, code.strip(), message.strip() or code, None)))
            continue
        chunker.add((ordinal, n, canon))
    chunker.finish(ordinal + 1)
    return chunks.finish()


def _frame_chunks(
    frames: Iterator[pl.DataFrame], rename: Callable[[pl.DataFrame], pl.DataFrame], skip: int
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame, int]]:
    """(source rows, canonical rows, checkpoint) per chunk, never splitting an order's rows;
    ordinals count rows as the row stream does, so a checkpoint means the same in both."""
    ordinal = 0
    carry: pl.DataFrame | None = None
    for frame in frames:
        frame = frame.with_columns(
            pl.int_range(ordinal, ordinal + frame.height, dtype=pl.Int64).alias("__ord")
        )
        ordinal += frame.height
        if skip > ordinal - frame.height:
            frame = frame.filter(pl.col("__ord") >= skip)
        if carry is not None:
            frame = pl.concat([carry, frame])
        if frame.is_empty():
            continue
        canon = rename(frame)
        order = canon["order_id"] if "order_id" in canon.columns else None
        cut = frame.height
        if order is not None:
            last = order[-1]
            same = order.eq_missing(last) if last is not None else order.is_null()
            # The trailing run of the last order waits for the next frame.
            cut = frame.height - int(same.reverse().cum_min().sum())
        if cut == 0:
            carry = frame
            continue
        carry = frame.slice(cut)
        yield frame.slice(0, cut), mappings.line_keys(canon.slice(0, cut)), int(frame["__ord"][cut])
    if carry is not None and not carry.is_empty():
        yield carry, mappings.line_keys(rename(carry)), ordinal


def _frame_work(source: pl.DataFrame, canon: pl.DataFrame, ctx: Context) -> Work:
    def work(s: Session) -> tuple[list[str], list[RowError], dict[int, dict[str, Any]]]:
        bad = source["__bad"]
        errors = [
            RowError(n, None, "extra_fields", "extra_fields", None) for n in source.filter(bad)["__row"]
        ]
        frame, parse_errors = orders_frame.parse_frame(canon.filter(~bad), ctx, ctx.shop)
        errors += parse_errors
        outcomes = orders_frame.apply(s, frame, ctx)
        errors.sort(key=lambda e: e.row)
        # The source rows of the errors, for the quarantine.
        raws: dict[int, dict[str, Any]] = {}
        for r in source.filter(pl.col("__row").is_in([e.row for e in errors])).iter_rows(named=True):
            n, bad, _ = r.pop("__row"), r.pop("__bad"), r.pop("__ord")
            raws[n] = r | {readers.ERROR_KEY: "extra_fields"} if bad else r
        return list(outcomes.values()), errors, raws

    return work
