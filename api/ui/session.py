"""Page sessions: an API key exchanged once for a session cookie, with a per-session CSRF token.

Sessions live server-side in memory (`SessionStore`, on `app.state`): the cookie carries only a
random 256-bit id, so signing out or expiry ends a session at once, and the key never travels
again after sign-in. The key is kept with the session and re-verified on every page
(`perfml.keys.verify_key`, cached for seconds), so revoking a key ends its sessions too.
Sessions do not survive a restart and are not shared between worker processes: a signed-in
user signs in again then.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import get_args

from perfml.catalog import Lang
from perfml.keys import Principal, verify_key

COOKIE = "perfml_session"
MAX_SESSIONS = 10_000  # bounded: sign-ins must not grow memory forever
LANGS: tuple[Lang, ...] = get_args(Lang)


def lang_of(value: str | None) -> Lang:
    """`value` when it names a language the pages speak, else English."""
    return next((lang for lang in LANGS if lang == value), "en")


@dataclass
class PageSession:
    """One signed-in browser: its key (server-side only), CSRF token, language and expiry (monotonic s)."""

    key: str
    csrf: str
    expires: float
    principal: Principal = field(compare=False)
    lang: Lang = "en"


class SessionStore:
    """Session id -> `PageSession`, with expiry; thread-safe."""

    def __init__(self, lifetime: float):
        """`lifetime`: seconds a session lasts after sign-in (`Settings.session_seconds`)."""
        self.lifetime = lifetime
        self._sessions: dict[str, PageSession] = {}
        self._lock = threading.Lock()

    def create(self, key: str, principal: Principal, lang: str | None = "en") -> tuple[str, PageSession]:
        """A new session for a key verified as `principal`: (cookie value, session)."""
        sid = secrets.token_urlsafe(32)
        session = PageSession(
            key=key,
            csrf=secrets.token_urlsafe(32),
            expires=time.monotonic() + self.lifetime,
            principal=principal,
            lang=lang_of(lang),
        )
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                self._drop_expired()
            self._sessions[sid] = session
        return sid, session

    def get(self, sid: str | None, engine) -> PageSession | None:
        """The live session of a cookie value with its principal re-verified; None when absent, expired or revoked."""
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is not None and session.expires <= time.monotonic():
                del self._sessions[sid]
                session = None
        if session is None:
            return None
        principal = verify_key(session.key, engine)
        if principal is None:
            self.end(sid)
            return None
        session.principal = principal
        return session

    def end(self, sid: str | None) -> None:
        """Forget a session (sign-out)."""
        with self._lock:
            self._sessions.pop(sid or "", None)

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if v.expires <= now]:
            del self._sessions[sid]
        if len(self._sessions) >= MAX_SESSIONS:  # still full: the oldest give way
            for sid in sorted(self._sessions, key=lambda s: self._sessions[s].expires)[: MAX_SESSIONS // 10]:
                del self._sessions[sid]

    def __len__(self) -> int:
        return len(self._sessions)


def csrf_ok(expected: str, token: str | None) -> bool:
    """Whether a form's token is the expected one (a session's or the sign-in page's; constant-time comparison)."""
    return bool(token) and hmac.compare_digest(expected.encode(), str(token).encode())


__all__ = ["COOKIE", "LANGS", "lang_of", "PageSession", "SessionStore", "csrf_ok"]
