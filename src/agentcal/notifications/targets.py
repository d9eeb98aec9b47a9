"""Where a notification goes, per `notificationType`, and the shape each target must have.

Here the target is checked for form when it is configured; the address guard
(`addresses`) refuses forbidden hosts, literally when saved and resolved when sent.
Each form is one regular expression, so that the API document states exactly what is
checked (`TARGET_PATTERNS`).
"""

from __future__ import annotations

import re

NOTIFICATION_TYPES = ("webhook", "discord", "telegram")
CONTENT_TYPES = ("text", "json")

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])"
_PORT = r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
_REST = r"(?:[/?#][\x21-\x7e]*)?"  # path, query, fragment: visible ASCII
_DISCORD_HOSTS = r"(?:discord\.com|discordapp\.com|canary\.discord\.com|ptb\.discord\.com)"

TARGET_PATTERNS = {
    "webhook": rf"https?://{_HOST}{_PORT}{_REST}",
    "discord": rf"https://{_DISCORD_HOSTS}/api/webhooks/[0-9]{{1,30}}/[A-Za-z0-9_-]{{1,200}}/?"
    r"(?:\?thread_id=[0-9]{1,30})?",
    "telegram": r"[0-9]{3,20}:[A-Za-z0-9_-]{20,100}:(?:-?[0-9]{1,20}|@[A-Za-z0-9_]{5,64})",
}
_COMPILED = {kind: re.compile(pattern) for kind, pattern in TARGET_PATTERNS.items()}
_EXPECTED = {
    "webhook": "a webhook target is an http(s) URL",
    "discord": "a Discord target is a webhook URL like https://discord.com/api/webhooks/ID/TOKEN",
    "telegram": "a Telegram target is 'botToken:chatId', e.g. '123456:AAH...xyz:-1001234567'",
}


def target_problem(notification_type: str, target: str) -> str | None:
    """Why `target` cannot serve `notification_type`, or None when it can."""
    if _COMPILED[notification_type].fullmatch(target):
        return None
    return _EXPECTED[notification_type]
