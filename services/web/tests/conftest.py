"""The web service alone, as the gateway calls it (signed): what it does before any API call
(pages' security, static files, sessions' absence, errors). The pages with data are tested
against the whole system in tests/e2e (test_web_*.py)."""

from __future__ import annotations

import functools

import pytest

from microblog_common.testing import run_service
from web.app import create_app
from web.settings import Settings

PUBLIC_URL = "http://microblog.test"


@pytest.fixture
def web(tmp_path):
    settings = functools.partial(Settings, gateway_url="http://127.0.0.1:9", public_url=PUBLIC_URL)
    with run_service(create_app, settings, f"sqlite:///{tmp_path / 'web.db'}") as (client, raw, _):
        raw.follow_redirects = False  # a page's redirect is what these tests look at
        yield client
