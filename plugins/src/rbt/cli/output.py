"""Console output helpers: Rich imported lazily, JSON for machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def console(stderr: bool = False) -> Any:
    """A Rich console (imported on first use)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_json(payload: Any) -> None:
    """Write ``payload`` as JSON to stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str, sort_keys=True) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Any:
    """A Rich table."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        # fold long cells rather than cutting them to "…": values must stay readable
        t.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        t.add_row(*(str(v) for v in row))
    return t


def error(message: str) -> None:
    """Print an error line to stderr (secrets masked: messages may quote signed URLs)."""
    from rich.markup import escape

    from rbt.security.redaction import redact

    console(stderr=True).print(f"[bold red]error:[/] {escape(redact(message))}")
