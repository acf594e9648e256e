"""Rate limits on the public feedback form (no login there): per survey and per client.

A client is its address together with its browser: a factory's workers often share one
address behind the company's router, and each phone should still get its own allowance.
Limits are kept in this gateway process (the `limits` library, moving window); with several
gateway processes each enforces its own share.
"""

from __future__ import annotations

import hashlib
import threading

from limits import parse, storage, strategies
from nameko.extensions import DependencyProvider

from common.config import setting
from common.errors import ServiceError


class TooManyRequests(ServiceError):
    status = 429
    default_code = "TOO_MANY_REQUESTS"


class _SweptMemoryStorage(storage.MemoryStorage):
    """The library's in-memory storage, its clean-up of spent entries run every ten seconds
    instead of every 10 ms. The limits themselves do not depend on it (each check compares
    times), but the clean-up walks every key: in a burst, every 10 ms it took half of the
    gateway's processor, and every second still a tenth (each phone is a key for a minute). Spent
    entries stay up to ten seconds longer in memory."""

    SWEEP_SECONDS = 10.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # the library's private hook
        if not self.timer.is_alive():
            self.timer = threading.Timer(self.SWEEP_SECONDS, self._MemoryStorage__expire_events)
            self.timer.daemon = True
            self.timer.start()


class _Limiter:
    def __init__(self, per_survey: str, per_client: str):
        self.window = strategies.MovingWindowRateLimiter(_SweptMemoryStorage())
        self.per_survey = parse(per_survey)
        self.per_client = parse(per_client)

    def check_survey(self, token: str) -> None:
        if not self.window.hit(self.per_survey, "survey", hashlib.sha256(token.encode()).hexdigest()):
            raise TooManyRequests("这份评议此刻提交的人太多，请稍等几秒再提交。")

    def check_client(self, request) -> None:
        who = f"{request.remote_addr}|{request.headers.get('User-Agent', '')}"
        if not self.window.hit(self.per_client, "client", hashlib.sha256(who.encode()).hexdigest()):
            raise TooManyRequests("提交太频繁，请稍后再试。")


class FeedbackLimiter(DependencyProvider):
    """FEEDBACK_LIMIT_PER_SURVEY (default 3000/minute) and FEEDBACK_LIMIT_PER_CLIENT (30/minute)."""

    def setup(self):
        config = self.container.config
        self.limiter = _Limiter(
            setting(config, "FEEDBACK_LIMIT_PER_SURVEY"),
            setting(config, "FEEDBACK_LIMIT_PER_CLIENT"),
        )

    def get_dependency(self, worker_ctx):
        return self.limiter
