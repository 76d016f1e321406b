"""Storage and tracking URLs as they may be shown: never with a password."""

from __future__ import annotations

import re

_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s'\"]*):(?P<secret>[^\s'\"]*)@(?=[^@\s'\"]*(?:[\s'\"]|$))")
"""A password runs to the last ``@`` of the URL: it may hold ``/``, ``:`` or a raw ``@``."""


def redact(text: str) -> str:
    """``postgresql://me:se/cr@t@host/db`` -> ``postgresql://me:***@host/db``, wherever URLs occur in ``text``."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
