"""Where a notification goes, per `notificationType`, and the shape each target must have.

Delivery (and the refusal of private addresses, which needs DNS at send time) lives
with the worker; here the target is only checked for form when it is configured.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

NOTIFICATION_TYPES = ("webhook", "discord", "telegram")
CONTENT_TYPES = ("text", "json")

_DISCORD_HOSTS = {"discord.com", "discordapp.com", "canary.discord.com", "ptb.discord.com"}
_TELEGRAM = re.compile(r"[0-9]{3,20}:[A-Za-z0-9_-]{20,100}:(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,64})")


def target_problem(notification_type: str, target: str) -> str | None:
    """Why `target` cannot serve `notification_type`, or None when it can."""
    if notification_type == "telegram":
        if not _TELEGRAM.fullmatch(target):
            return "a Telegram target is 'botToken:chatId', e.g. '123456:AAH...xyz:-1001234567'"
        return None
    try:  # urlsplit and .port raise ValueError on e.g. "http://[oops" or port 99999
        parts = urlsplit(target)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018
    except ValueError:
        valid = False
    if not valid:
        return f"a {notification_type} target is an http(s) URL"
    if notification_type == "discord":
        if parts.scheme != "https" or parts.hostname not in _DISCORD_HOSTS:
            return (
                "a Discord target is a webhook URL like https://discord.com/api/webhooks/ID/TOKEN"
            )
        if not parts.path.startswith("/api/webhooks/"):
            return (
                "a Discord target is a webhook URL like https://discord.com/api/webhooks/ID/TOKEN"
            )
    return None
