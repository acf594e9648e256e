"""One way to try again, on top of tenacity: what is retried, how often and how long to wait
between tries is said once, where the retry is used.

- an event consumer's transaction: four tries, 0.2 s doubling, then the message is parked;
- two writers claiming the same booking or form at once (``DuplicateKeyError``): a few tries at
  once, the second sees what the first wrote;
- the outbox relay and the batch consumers losing the broker: again every second, for as long
  as the process runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_never,
    wait_exponential,
    wait_fixed,
    wait_none,
)

log = logging.getLogger(__name__)


def retrying(
    on: type[BaseException] | tuple[type[BaseException], ...],
    *,
    attempts: int | None,
    wait: float = 0.0,
    doubling: bool = False,
    unless: tuple[type[BaseException], ...] = (),
    while_: Callable[[], bool] | None = None,
    before_again: Callable[[BaseException, int], Any] | None = None,
) -> Retrying:
    """A tenacity ``Retrying`` that calls a function again when it raises one of ``on`` (but
    none of ``unless``), at most ``attempts`` times in all (``None``: without end, or while
    ``while_()`` holds), waiting ``wait`` seconds between (doubling after each try when
    ``doubling``). ``before_again(error, tries_so_far)`` runs before each wait. When the tries are
    spent the last error is raised as itself. Use: ``retrying(...)(fn, *args)``."""

    def retry_it(error: BaseException) -> bool:
        return isinstance(error, on) and not isinstance(error, unless)

    if attempts is not None:
        stop = stop_after_attempt(attempts)
    elif while_ is not None:
        stop = _stop_unless(while_)
    else:
        stop = stop_never
    if not wait:
        pause = wait_none()
    elif doubling:
        pause = wait_exponential(multiplier=wait, exp_base=2, min=wait)
    else:
        pause = wait_fixed(wait)

    def before_sleep(state: RetryCallState) -> None:
        if before_again is not None:
            before_again(state.outcome.exception(), state.attempt_number)

    return Retrying(
        retry=retry_if_exception(retry_it),
        stop=stop,
        wait=pause,
        reraise=True,
        before_sleep=before_sleep,
    )


def _stop_unless(still: Callable[[], bool]):
    def stop(state: RetryCallState) -> bool:
        return not still()

    return stop
