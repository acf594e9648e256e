"""Configuration: environment variables with local defaults, read through one helper.

nameko 2.14 hands config to extensions as ``container.config``; ``setting`` reads a key from
there first and falls back to the environment, then to the default.
"""

from __future__ import annotations

import os

from nameko.extensions import DependencyProvider

DEFAULTS = {
    "AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/",
    "MONGO_URI": "mongodb://127.0.0.1:27017/?directConnection=true",
    "DB_PREFIX": "",
    "PORT": "8000",
    "OFFER_HOURS": "24",
    "SURVEY_HOURS": "72",
    # seconds between a survey's close and its summary: answers accepted just before are stored first
    "SURVEY_CLOSE_GRACE": "5",
    # keys the volunteers' calendar feed addresses; set your own in production
    "FEED_SECRET": "songwenhua-local-feed-secret",
    # what the day's rules (check-in opens, completion once started) go by: "real", the clock; or
    # "recorded", the time a call records (`at`), so that demos, load and fault runs can play a
    # delivery's day straight after scheduling. Production: real.
    "DAY_CLOCK": "real",
}


def setting(config: dict | None, key: str, default=None):
    """``key`` from the service's config, else the environment, else ``default``, else DEFAULTS."""
    if config and config.get(key) not in (None, ""):
        return config[key]
    value = os.environ.get(key)
    if value not in (None, ""):
        return value
    return default if default is not None else DEFAULTS.get(key)


def nameko_config(**overrides) -> dict:
    """The config dict every service process runs with."""
    port = setting(overrides, "PORT")
    config = {
        "AMQP_URI": setting(overrides, "AMQP_URI"),
        "MONGO_URI": setting(overrides, "MONGO_URI"),
        "DB_PREFIX": setting(overrides, "DB_PREFIX", ""),
        "WEB_SERVER_ADDRESS": setting(overrides, "WEB_SERVER_ADDRESS", f"127.0.0.1:{port}"),
        "max_workers": int(setting(overrides, "MAX_WORKERS", 10)),
        "serializer": "json",
    }
    config.update({k: v for k, v in overrides.items() if k not in config})
    return config


class Config(DependencyProvider):
    """Hands the worker its container's config (nameko 2.14: ``container.config``)."""

    def get_dependency(self, worker_ctx):
        return self.container.config
