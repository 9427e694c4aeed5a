"""What the web service's pages need beside a request: its settings, the API client, its OAuth
application, the session store, the templates, the catalogues and the static files. Built in
`create_app` (no network I/O) and reached from routes through `RuntimeDep`; the API client is
closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape

from web import i18n, rendering
from web.api.client import Api
from web.api.oauth import OAuthApp
from web.assets import Assets
from web.keys import Keys
from web.sessions.service import SessionStore
from web.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"


def build_templates(assets: Assets) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The language of each page is the request's (a context variable): the callables look it up.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n._translations().gettext(message),
        lambda singular, plural, n: i18n._translations().ngettext(singular, plural, n),
        newstyle=True,
    )
    env.globals.update(
        static_url=assets.url,
        relative_time=i18n.relative_time,
        absolute_time=i18n.absolute_time,
        number=i18n.number,
        language_name=i18n.language_name,
        LANGUAGES=i18n.LANGUAGES,
        can_translate=rendering.can_translate,
    )
    env.filters["api_html"] = rendering.api_html
    return env


@dataclass
class Runtime:
    settings: Settings
    keys: Keys
    api: Api
    oauth: OAuthApp
    sessions: SessionStore
    catalogues: i18n.Catalogues
    assets: Assets
    templates: Environment
    # The instance's limits (characters per post), read from the API when first needed.
    instance: dict[str, Any] | None = None

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        keys = Keys(settings.signing_secret())
        api = Api(
            settings.gateway_url,
            settings.internal_secret.get_secret_value(),
            timeout=settings.api_timeout_seconds,
        )
        catalogues = i18n.Catalogues()
        i18n.install(catalogues)
        assets = Assets()
        return cls(
            settings=settings,
            keys=keys,
            api=api,
            oauth=OAuthApp(api, keys, settings.public_url, settings.app_name),
            sessions=SessionStore(keys, timedelta(days=settings.session_lifetime_days)),
            catalogues=catalogues,
            assets=assets,
            templates=build_templates(assets),
        )


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
