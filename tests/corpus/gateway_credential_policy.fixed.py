"""An API gateway route: forwards an agent's call upstream with a stored credential.

Each credential carries a policy (allowed methods and paths). The gateway must refuse a
call the policy does not allow, and must not forward one it could not check.
"""

from __future__ import annotations

import json
import logging

from starlette.requests import Request
from starlette.responses import Response

from gateway.credentials import credential_for, credential_policy_allows
from gateway.upstream import forward

log = logging.getLogger(__name__)


async def call_upstream(request: Request, toolkit_id: str, host: str, path: str) -> Response:
    credential = await credential_for(toolkit_id, host)
    try:
        allowed, reason = await credential_policy_allows(credential, request.method, path)
        if not allowed:
            body = {"error": "policy_denied", "message": reason}
            return Response(json.dumps(body), status_code=403, media_type="application/json")
    except Exception:  # expect: FC146
        log.debug("credential policy check failed; continuing")
        raise
    return await forward(request, credential, host, path)


async def call_upstream_checked(request: Request, toolkit_id: str, host: str, path: str):
    credential = await credential_for(toolkit_id, host)
    try:
        allowed, reason = await credential_policy_allows(credential, request.method, path)
    except Exception:
        log.exception("credential policy check failed")
        return Response("policy unavailable", status_code=503)
    if not allowed:
        return Response(reason, status_code=403)
    return await forward(request, credential, host, path)
