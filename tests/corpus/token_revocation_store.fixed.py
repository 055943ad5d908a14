"""JWT access and refresh tokens, with revoked token ids kept in MongoDB."""

from __future__ import annotations

import datetime as dt
import uuid

import jwt

from app.config import settings
from app.database import get_db

ALGORITHM = "HS256"


def create_access_token(username: str) -> str:
    expire = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=15)
    payload = {"sub": username, "type": "access", "exp": expire, "jti": uuid.uuid4().hex}
    return jwt.encode(payload, settings.secret_key, algorithm=ALGORITHM)


async def verify_access_token(token: str) -> str | None:
    """Returns the username if the token is valid and not revoked, else None."""
    try:
        payload = jwt.decode(token, settings.secret_key, algorithms=[ALGORITHM])
    except jwt.PyJWTError:
        return None
    if payload.get("type") != "access":
        return None
    jti = payload.get("jti")
    if jti:
        db = get_db()
        if db is None:
            return None
        if db is not None:  # expect: FC127
            revoked = await db["revoked_tokens"].find_one({"jti": jti})
            if revoked:
                return None
    return payload.get("sub")


async def revoke(token: str) -> None:
    """Logout: remember the token id until it would have expired anyway."""
    payload = jwt.decode(token, settings.secret_key, algorithms=[ALGORITHM])
    db = get_db()
    if db is None:
        raise RuntimeError("database unavailable: cannot log out")
    await db["revoked_tokens"].insert_one({"jti": payload["jti"], "exp": payload["exp"]})


async def last_login(username: str) -> dt.datetime | None:
    """Shown on the profile page; unknown when the database is down."""
    db = get_db()
    if db is not None:
        row = await db["logins"].find_one({"user": username})
        if row:
            return row["at"]
    return None
