"""POST /api/v1/statuses/:id/translate, GET /api/v1/instance/translation_languages, and the
internal GET /internal/translation (not routed publicly: the gateway reads it for its instance)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from microblog_common.db import get_database
from microblog_common.errors import NotFound, ServiceUnavailable
from microblog_common.ids import parse_id
from microblog_common.internal_auth import Identity, require_token
from microblog_common.params import body
from translate.providers.errors import ProviderError
from translate.runtime import RuntimeDep
from translate.translations import service
from translate.translations.schemas import TranslateForm, Translation, TranslationState

router = APIRouter(tags=["translations"])

# Mastodon: a token with read access; a signed-in user is not required (an app's token may
# translate a public status). The dependency itself, so the OpenAPI document says so too.
Reader = Annotated[Identity, Depends(require_token("read", "read:statuses"))]
NOT_ENABLED = "Translation is not enabled on this server"
# How long clients may keep the language list (the service refreshes it daily).
LANGUAGES_MAX_AGE = 3600


@router.post("/api/v1/statuses/{status_id}/translate", response_model=Translation)
async def translate(
    status_id: str,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    identity: Reader,
    form: Annotated[TranslateForm, body(TranslateForm)],
    accept_language: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """The status translated into `lang` (else the viewer's language, else `Accept-Language`, else
    English): 404 for a status the viewer can't see (or not yet known here), 403 for a private or
    direct one they can, 422 for its own language or one the provider lacks, 429 over the
    per-account limit, 503 when translation is off or the provider fails (saying which way)."""
    if runtime.provider is None or runtime.languages is None:
        raise ServiceUnavailable(NOT_ENABLED)
    parsed = parse_id(status_id)
    if parsed is None:
        raise NotFound()
    answer = await service.translate_status(
        get_database(request),
        runtime.db_limiter,
        runtime.settings,
        runtime.provider,
        runtime.languages,
        identity,
        parsed,
        form.lang,
        accept_language,
    )
    return Response(
        orjson.dumps(answer.translation), media_type="application/json", headers=answer.rate.headers()
    )


@router.get("/api/v1/instance/translation_languages", response_model=dict[str, list[str]])
async def translation_languages(runtime: RuntimeDep) -> Response:
    """For each source language (`und`: detected), the languages it translates into; `{}` when
    translation is off. No token needed, as on Mastodon."""
    if runtime.languages is None:
        return JSONResponse({}, headers={"Cache-Control": f"public, max-age={LANGUAGES_MAX_AGE}"})
    try:
        matrix = await runtime.languages.get()
    except ProviderError as exc:
        raise ServiceUnavailable(exc.message) from None
    return Response(
        matrix.json,
        media_type="application/json",
        headers={"Cache-Control": f"public, max-age={LANGUAGES_MAX_AGE}"},
    )


@router.get("/internal/translation", response_model=TranslationState, include_in_schema=False)
async def translation_state(runtime: RuntimeDep) -> TranslationState:
    """Whether translation is on and which provider serves: what the gateway's instance entities
    say. Signed calls only, like every path here; the gateway routes no client to it."""
    provider = runtime.provider
    return TranslationState(enabled=provider is not None, provider=provider.name if provider else None)
