import asyncio

from microblog_common.pagination import Page, link_headers
from microblog_common.pagination import account_page_params as account_page
from microblog_common.pagination import page_params as statuses_page


def page_params(*args: str | None) -> Page:
    return asyncio.run(statuses_page(*args))


def account_page_params(*args: str | None) -> Page:
    return asyncio.run(account_page(*args))


def test_statuses_and_accounts_have_mastodons_page_sizes():
    assert page_params(None, None, None, None).limit == 20
    assert page_params(None, None, None, "500").limit == 40
    assert account_page_params(None, None, None, None).limit == 40
    assert account_page_params(None, None, None, "500").limit == 80
    assert account_page_params(None, None, None, "abc").limit == 40  # not a number: the default
    assert account_page_params("9", "3", None, "0").limit == 1
    assert account_page_params("9", "3", None, "5") == Page(max_id=9, since_id=3, min_id=None, limit=5)


def test_link_headers_point_older_and_newer():
    page = Page(None, None, None, 2)
    headers = link_headers("http://x/api/v1/accounts/1/followers", page, [30, 20])
    assert headers == {
        "Link": '<http://x/api/v1/accounts/1/followers?limit=2&max_id=20>; rel="next", '
        '<http://x/api/v1/accounts/1/followers?limit=2&min_id=30>; rel="prev"'
    }
    assert link_headers("http://x/y", page, []) == {}
    only_prev = link_headers("http://x/y", Page(None, None, None, 20), [5])["Link"]
    assert "next" not in only_prev and "min_id=5" in only_prev
