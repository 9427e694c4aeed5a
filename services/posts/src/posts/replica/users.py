"""The users service's current account snapshot, for what must not act on a replica that may lag
behind (`GET /internal/accounts/{id}`, signed as the gateway signs, the same `AccountSnapshot`
contract as `user.updated`): a post that leaves its visibility, sensitivity or language to the
author's defaults, right after the author changed them, gets the new ones."""

from __future__ import annotations

from microblog_common.contracts.users import AccountSnapshot
from microblog_common.errors import ServiceUnavailable
from microblog_common.internal_client import InternalClient


class AccountSource:
    def __init__(self, client: InternalClient):
        self.client = client

    def current(self, account_id: int) -> AccountSnapshot | None:
        """The snapshot, None when the users service knows no such account; ServiceUnavailable
        when it can't be asked (down, slow, or an answer that is not the contract)."""
        response = self.client.get(f"/internal/accounts/{account_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ServiceUnavailable(f"The users service is unavailable (it answered {response.status_code})")
        try:
            return AccountSnapshot.model_validate_json(response.content)
        except ValueError as exc:
            raise ServiceUnavailable("The users service is unavailable (an answer out of contract)") from exc

    def close(self) -> None:
        self.client.close()
