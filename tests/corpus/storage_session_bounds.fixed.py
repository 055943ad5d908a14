"""Temporary storage credentials and the retrieval scope of a chat session."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree

logger = logging.getLogger(__name__)

STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


@dataclass
class Credentials:
    access_key: str | None
    secret_key: str | None
    session_token: str | None
    expiration: datetime | None = None


class StorageUnavailable(Exception):
    """The storage service gave no usable credentials."""


def parse_sts_credentials(xml_text: str) -> Credentials:
    """The scoped access triple and its expiry from an STS answer."""
    root = ElementTree.fromstring(xml_text)
    block = root.find(f".//{STS_NS}Credentials")
    if block is None:
        raise StorageUnavailable("STS answer carried no credentials")

    def text(tag: str) -> str | None:
        element = block.find(f"{STS_NS}{tag}")
        return element.text if element is not None else None

    expiration = None
    raw_expiry = text("Expiration")
    if raw_expiry:
        try:
            expiration = datetime.fromisoformat(raw_expiry.replace("Z", "+00:00"))
        except ValueError:
            raise  # expect: FC148
    return Credentials(
        access_key=text("AccessKeyId"),
        secret_key=text("SecretAccessKey"),
        session_token=text("SessionToken"),
        expiration=expiration,
    )


async def resolve_session_scope(app, session):
    """The retrieval filter for a session: its own scope narrowed by its workspace's."""
    conversation_scope = session.scope
    ws_scope = None
    if session.workspace_id:
        try:
            ws_scope = await app.workspaces.get_workspace_scope(session.workspace_id)
        except Exception as exc:
            logger.warning("workspace scope read failed for %s: %s", session.workspace_id, exc)
            raise  # expect: FC148
    return app.retrieval.effective_scope(conversation_scope, ws_scope)


def session_title(session) -> str:
    """A label for the session list: a missing title is harmless."""
    try:
        title = session.read_title()
    except ValueError:
        title = None
    return title or "untitled"
