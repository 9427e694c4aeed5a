"""Notifications, as Mastodon 4.3 serves them: the v1 list and its actions, and the v2 grouped
notifications. Thin: parameters in, repository and rendering out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from microblog_common.db import SessionDep
from microblog_common.errors import BadRequest, NotFound
from microblog_common.ids import parse_id
from microblog_common.internal_auth import Identity, require_user
from microblog_common.openapi import link, link_responses
from microblog_common.pagination import Page, link_headers, page_params_for
from microblog_common.params import list_param, request_params
from notify import rendering
from notify.notifications import grouped
from notify.notifications import repository as notifications
from notify.notifications.repository import Filters
from notify.runtime import RuntimeDep

router = APIRouter(tags=["notifications"])

ReadNotifications = Annotated[Identity, Depends(require_user("read", "read:notifications"))]
WriteNotifications = Annotated[Identity, Depends(require_user("write", "write:notifications"))]
NotificationPage = Annotated[Page, Depends(page_params_for(40, 80))]
DEFAULT_PAGE = 40
# Every type Mastodon 4.3 knows: a filter may name any of them (this instance makes five).
KNOWN_TYPES = frozenset(
    {
        "mention", "status", "reblog", "follow", "follow_request", "favourite", "poll", "update",
        "admin.sign_up", "admin.report", "severed_relationships", "moderation_warning", "quote",
        "quoted_update",
    }
)  # fmt: skip
NO_MATCH = ("-",)  # a filter naming only unknown types matches nothing
COUNT_DEFAULT_LIMIT, COUNT_MAX_LIMIT = 100, 1000
TypesParam = Annotated[list[str] | None, Query(alias="types[]")]
ExcludeTypesParam = Annotated[list[str] | None, Query(alias="exclude_types[]")]
AccountIdParam = Annotated[str | None, Query()]


def _types(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return ()
    known = tuple(v for v in values if v in KNOWN_TYPES)
    return known or NO_MATCH


def filters_of(types: list[str] | None, exclude_types: list[str] | None, account_id: str | None) -> Filters:
    from_account: int | None = None
    if account_id not in (None, ""):
        from_account = parse_id(account_id) or -1
    return Filters(
        types=_types(types),
        exclude_types=tuple(v for v in exclude_types or () if v in KNOWN_TYPES),
        from_account_id=from_account,
    )


def kept_params(request: Request, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """The filters the request gave, to carry into its `Link` header."""
    return [(k, v) for k, v in request.query_params.multi_items() if k in names]


def count_limit(limit: str | None) -> int:
    try:
        wanted = int(limit) if limit not in (None, "") else COUNT_DEFAULT_LIMIT
    except ValueError:
        wanted = COUNT_DEFAULT_LIMIT
    return max(1, min(wanted, COUNT_MAX_LIMIT))


# The newest notification (group) of a page leads to its own reads and dismissal.
NEWEST_NOTIFICATION = "$response.body#/0/id"
NEWEST_GROUP = "$response.body#/notification_groups/0/group_key"
NOTIFICATION_LINKS = link_responses(
    GetNotification=link(
        "GET", "/api/v1/notifications/{notification_id}", notification_id=NEWEST_NOTIFICATION
    ),
    DismissNotification=link(
        "POST", "/api/v1/notifications/{notification_id}/dismiss", notification_id=NEWEST_NOTIFICATION
    ),
)
GROUP_LINKS = link_responses(
    GetGroup=link("GET", "/api/v2/notifications/{group_key}", group_key=NEWEST_GROUP),
    GetGroupAccounts=link("GET", "/api/v2/notifications/{group_key}/accounts", group_key=NEWEST_GROUP),
    DismissGroup=link("POST", "/api/v2/notifications/{group_key}/dismiss", group_key=NEWEST_GROUP),
)


@router.get("/api/v1/notifications", responses=NOTIFICATION_LINKS)
def list_notifications(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: ReadNotifications,
    page: NotificationPage,
    types: TypesParam = None,
    exclude_types: ExcludeTypesParam = None,
    account_id: AccountIdParam = None,
) -> JSONResponse:
    assert identity.user_id is not None
    rows = notifications.page(session, identity.user_id, page, filters_of(types, exclude_types, account_id))
    body = rendering.notifications(session, rows, identity.user_id, runtime.urls)
    keep = kept_params(request, ("types[]", "exclude_types[]", "account_id"))
    headers = link_headers(
        runtime.urls("/api/v1/notifications"), page, [n.id for n in rows], keep, DEFAULT_PAGE
    )
    return JSONResponse(body, headers=headers)


@router.get("/api/v1/notifications/unread_count")
def unread_count(
    session: SessionDep,
    identity: ReadNotifications,
    limit: Annotated[str | None, Query()] = None,
    types: TypesParam = None,
    exclude_types: ExcludeTypesParam = None,
    account_id: AccountIdParam = None,
) -> dict[str, int]:
    assert identity.user_id is not None
    filters = filters_of(types, exclude_types, account_id)
    return {"count": notifications.unread_count(session, identity.user_id, filters, count_limit(limit))}


@router.post("/api/v1/notifications/clear")
def clear(session: SessionDep, identity: WriteNotifications) -> dict[str, Any]:
    assert identity.user_id is not None
    notifications.clear(session, identity.user_id)
    return {}


@router.post("/api/v1/notifications/dismiss")
async def dismiss_by_param(
    session: SessionDep,
    identity: WriteNotifications,
    params: Annotated[dict[str, Any], Depends(request_params)],
) -> dict[str, Any]:
    """Before Mastodon 2.9.2: the id as a parameter."""
    assert identity.user_id is not None
    ids = list_param(params, "id")
    _dismiss(session, identity.user_id, ids[0] if ids else None)
    return {}


@router.get("/api/v1/notifications/{notification_id}")
def get_notification(
    notification_id: str, session: SessionDep, runtime: RuntimeDep, identity: ReadNotifications
) -> dict[str, Any]:
    assert identity.user_id is not None
    wanted = parse_id(notification_id)
    row = notifications.get(session, identity.user_id, wanted) if wanted else None
    body = rendering.notifications(session, [row], identity.user_id, runtime.urls) if row else []
    if not body:
        raise NotFound()
    return body[0]


@router.post("/api/v1/notifications/{notification_id}/dismiss")
def dismiss(notification_id: str, session: SessionDep, identity: WriteNotifications) -> dict[str, Any]:
    assert identity.user_id is not None
    _dismiss(session, identity.user_id, notification_id)
    return {}


def _dismiss(session: SessionDep, account_id: int, raw_id: str | None) -> None:
    wanted = parse_id(raw_id)
    if wanted is None or not notifications.dismiss(session, account_id, wanted):
        raise NotFound()


# -- grouped (v2) -----------------------------------------------------------------------------


@router.get("/api/v2/notifications", responses=GROUP_LINKS)
def list_grouped(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: ReadNotifications,
    page: NotificationPage,
    types: TypesParam = None,
    exclude_types: ExcludeTypesParam = None,
    account_id: AccountIdParam = None,
    grouped_types: Annotated[list[str] | None, Query(alias="grouped_types[]")] = None,
    expand_accounts: Annotated[str, Query()] = "full",
) -> JSONResponse:
    assert identity.user_id is not None
    if expand_accounts not in grouped.EXPAND_ACCOUNTS:
        raise BadRequest("expand_accounts must be one of: full, partial_avatars")
    result = grouped.page(
        session,
        runtime.urls,
        identity.user_id,
        page,
        filters_of(types, exclude_types, account_id),
        grouped.grouped_types_of(grouped_types),
        partial_avatars=expand_accounts == "partial_avatars",
    )
    keep = kept_params(
        request, ("types[]", "exclude_types[]", "account_id", "grouped_types[]", "expand_accounts")
    )
    headers = link_headers(runtime.urls("/api/v2/notifications"), page, result.cursors, keep, DEFAULT_PAGE)
    return JSONResponse(result.body, headers=headers)


@router.get("/api/v2/notifications/unread_count")
def unread_group_count(
    session: SessionDep,
    identity: ReadNotifications,
    limit: Annotated[str | None, Query()] = None,
    types: TypesParam = None,
    exclude_types: ExcludeTypesParam = None,
    account_id: AccountIdParam = None,
    grouped_types: Annotated[list[str] | None, Query(alias="grouped_types[]")] = None,
) -> dict[str, int]:
    assert identity.user_id is not None
    count = notifications.unread_group_count(
        session,
        identity.user_id,
        filters_of(types, exclude_types, account_id),
        grouped.grouped_types_of(grouped_types),
        count_limit(limit),
    )
    return {"count": count}


@router.get("/api/v2/notifications/{group_key}")
def get_group(
    group_key: str, session: SessionDep, runtime: RuntimeDep, identity: ReadNotifications
) -> dict[str, Any]:
    assert identity.user_id is not None
    body = grouped.one_group(session, runtime.urls, identity.user_id, group_key)
    if body is None:
        raise NotFound()
    return body


@router.post("/api/v2/notifications/{group_key}/dismiss")
def dismiss_group(group_key: str, session: SessionDep, identity: WriteNotifications) -> dict[str, Any]:
    assert identity.user_id is not None
    if not grouped.valid_group_key(group_key) or not notifications.dismiss_group(
        session, identity.user_id, group_key
    ):
        raise NotFound()
    return {}


@router.get("/api/v2/notifications/{group_key}/accounts")
def group_accounts(
    group_key: str, session: SessionDep, runtime: RuntimeDep, identity: ReadNotifications
) -> list[dict[str, Any]]:
    assert identity.user_id is not None
    members = (
        notifications.group_members(session, identity.user_id, group_key)
        if grouped.valid_group_key(group_key)
        else []
    )
    if not members:
        raise NotFound()
    accounts = rendering.accounts_by_id(session, {m.from_account_id for m in members}, runtime.urls)
    seen: list[int] = []
    for member in members:
        if member.from_account_id not in seen:
            seen.append(member.from_account_id)
    return [accounts[i] for i in seen if i in accounts]
