"""A live terminal display of a print run: one bar for the run, one line per printer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from printctl.queue.worker import WorkerEvent

Notify = Callable[[WorkerEvent], None]


@contextmanager
def live_progress(console: Console | None, *, total: int, printers: list[str]) -> Iterator[Notify]:
    """Yield a worker ``notify`` callback that updates the display (a no-op without console)."""
    if console is None:
        yield lambda _event: None
        return
    progress = Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}", style="yellow"),
        console=console,
    )
    lock = threading.Lock()  # workers call from their own threads
    overall = progress.add_task("cards issued", total=total, status="")
    tasks = {name: progress.add_task(f"  {name}", total=None, status="") for name in printers}

    def notify(event: WorkerEvent) -> None:
        with lock:
            task = tasks.get(event.printer)
            if event.kind == "completed":
                progress.advance(overall)
                if task is not None:
                    progress.advance(task)
            elif task is not None:
                # The last thing that went wrong on this printer, short enough for 80 columns.
                reason = event.detail.split(";")[0].split(":")[0]
                progress.update(task, status=f"{event.kind}: {reason}"[:40])

    with progress:
        yield notify
