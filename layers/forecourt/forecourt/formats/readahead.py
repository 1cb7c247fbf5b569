"""Items of a generator produced by a worker thread, a step ahead of the consumer.

pyarrow parses and computes without holding the GIL, so a reader that runs ahead in its own thread
overlaps its work with what the caller does with the previous batch.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator, Iterator
from queue import Empty, Full, Queue
from typing import TypeVar

T = TypeVar("T")

_Entry = tuple[T | None, BaseException | None]
"""What the worker queues: an item, the end (None, None), or the exception it stopped on."""


def read_ahead(items: Generator[T, None, None], depth: int = 1) -> Iterator[T]:
    """``items`` produced by a worker thread up to ``depth`` ahead of the consumer.

    pyarrow parses and computes without holding the GIL, so reading the next batches overlaps with
    what the caller does with this one. Exceptions of the producer are raised here, in order;
    closing this generator early stops the worker and waits for it.
    """
    queue: Queue[_Entry[T]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _offer(queue, (item, None), stop):
                    return
            _offer(queue, (None, None), stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _offer(queue, (None, exc), stop)

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = queue.get()
            if error is not None:
                raise error
            if item is None:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(Empty):
                queue.get(timeout=0.05)
        items.close()


def _offer(queue: Queue[_Entry[T]], entry: _Entry[T], stop: threading.Event) -> bool:
    """Put ``entry`` unless the consumer has stopped; False when it has."""
    while not stop.is_set():
        with contextlib.suppress(Full):
            queue.put(entry, timeout=0.05)
            return True
    return False
