"""What the command-line edges (cli, batch_cli, registry_cli) print on stderr.

One console, with Rich markup off: paths, column names and messages may hold [brackets], which
markup ate ([old]) or choked on ([/tmp], a MarkupError after the work was done).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

__all__ = ["err", "fail", "warn"]

# (soft_wrap: a message in a cron log is one line, never cut at 80 columns mid-path)
err = Console(stderr=True, soft_wrap=True, markup=False)


def fail(msg: str, code: int = 1) -> typer.Exit:
    """Print ``error: MSG`` on stderr and return the :class:`typer.Exit` to raise."""
    err.print(Text.assemble(("error:", "bold red"), " ", msg), highlight=False)
    return typer.Exit(code)


def warn(msg: str) -> None:
    """Print ``warning: MSG`` on stderr."""
    err.print(Text.assemble(("warning:", "bold yellow"), " ", msg), highlight=False)
