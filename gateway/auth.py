"""Users' passwords and API bearer tokens.

Passwords are hashed with scrypt (RFC 7914) from the standard library; tokens are random
(``secrets.token_urlsafe``) and only their SHA-256 is stored, so a database leak reveals neither.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.models import ApiToken, User, utcnow

ROLES = ("operator", "department", "admin")
# scrypt cost parameters: n=2**14, r=8, p=1 is the interactive-login setting RFC 7914 §2 discusses.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), dklen=32, **_SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(session: AsyncSession, user: User, hours: int) -> tuple[str, dt.datetime]:
    """Create a bearer token for ``user`` (the caller commits); return it and its expiry."""
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + dt.timedelta(hours=hours)
    session.add(ApiToken(user_id=user.id, token_sha256=_token_digest(token), expires_at=expires_at))
    return token, expires_at


async def user_for_token(session: AsyncSession, token: str) -> User | None:
    """The active user a valid, unexpired token belongs to, else ``None``."""
    row = await session.execute(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_sha256 == _token_digest(token), ApiToken.expires_at > utcnow(), User.active)
    )
    return row.scalar_one_or_none()


async def authenticate(session: AsyncSession, name: str, password: str) -> User | None:
    user = await session.scalar(select(User).where(User.name == name, User.active))
    if user is None:
        # Spend the same time as a real check so that timing does not reveal which names exist.
        verify_password(password, hash_password("not-a-user"))
        return None
    return user if verify_password(password, user.password_hash) else None
