"""Shared CLI plumbing: one error style, JSON output, the database engine."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from patron.core.errors import PatronError

P = ParamSpec("P")
R = TypeVar("R")
console = Console()
err_console = Console(stderr=True)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Expected failures print one clear line (code + message) and exit 2; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except PatronError as exc:
            err_console.print(
                f"[bold red]error[/] {escape(f'[{exc.code}]')} {escape(exc.message)}", highlight=False
            )
            if exc.data:
                err_console.print(
                    escape(json.dumps(exc.data, ensure_ascii=False, default=str)), highlight=False
                )
            raise typer.Exit(2) from exc

    return wrapper


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
