"""Local stand-ins for the translation providers the translate service calls, which can't be
reached from these machines: real HTTP servers (Starlette on uvicorn, on 127.0.0.1) that follow
each provider's documented contract, for the service's tests, the end-to-end tests and the
benchmarks.

- `MicrosoftTranslator`: Translator Text API v3.0 (`/translate`, `/detect`, `/languages`):
  `api-version=3.0`, `Ocp-Apim-Subscription-Key`, `Ocp-Apim-Subscription-Region` when the
  resource is regional, JSON arrays of `{"Text"}`, `detectedLanguage` only without `from`,
  `textType=html`, the limits (10,000 characters and 100 texts per request), and errors as
  `{"error": {"code": NNNSSS, "message"}}` (400xxx, 401000, 403001, 415000, 429001, 500000, 503000).
- `LibreTranslate`: `/translate` (`q` a string or a list, `source` `auto`, `format` `html`,
  `api_key`), `/detect`, `/languages` (with `targets`); errors as `{"error": "..."}` (400, 403,
  429, 500). Like the real server it answers translated HTML with its entities unescaped.
- `DeepL`: `/v2/translate` (`Authorization: DeepL-Auth-Key`, JSON or form, `text` a list,
  `target_lang`, `source_lang`, `tag_handling`) and `/v2/languages?type=source|target`; errors
  403, 413, 429, 456, 5xx with `{"message"}`.

Their "translation" is deterministic and keeps the markup: in `html` mode every text node's
letters swap case and the first one is prefixed with `[<target>] `; in plain-text mode the whole
text is treated as text (tags included), which is how a test sees the wrong mode was asked for.
Their language detection is a small word list (en, es, fr, de; English when in doubt).

Each counts the requests it gets by path (`calls`), keeps them (`requests`), can be told to
answer the next requests with a documented failure (`fail_next`), to be slow (`delay`), or to be
out of quota (`quota_exhausted`). `with stand_in.serving() as url:` runs one on a free port;
`python -m devstack.translation_providers microsoft --port 8600` runs one alone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devstack.servers import free_port

HOST = "127.0.0.1"
_TAG_OR_TEXT = re.compile(r"""(<(?:[^>"']|"[^"]*"|'[^']*')*>)""")
_REFERENCE = re.compile(r"(&[#A-Za-z0-9]+;)")
# A few words per language: enough to tell test sentences apart.
_WORDS = {
    "en": {"the", "and", "is", "hello", "this", "world", "of", "to", "you", "are", "my", "post", "with"},
    "es": {"el", "la", "hola", "es", "y", "que", "mundo", "los", "las", "una", "con", "gracias"},
    "fr": {"le", "et", "est", "bonjour", "les", "des", "une", "monde", "avec", "merci", "je"},
    "de": {"der", "die", "und", "das", "ist", "hallo", "nicht", "ein", "welt", "mit", "ich", "danke"},
}
_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "ja": "Japanese",
    "pt": "Portuguese",
    "pt-PT": "Portuguese (Portugal)",
    "nb": "Norwegian",
    "zh-Hans": "Chinese Simplified",
    "zh-Hant": "Chinese Traditional",
}


def detect(text: str) -> tuple[str, float]:
    """The stand-ins' language detection: the language with most known words; English at low
    confidence when none is known."""
    words = re.findall(r"[^\W\d_]+", html.unescape(_TAG_OR_TEXT.sub(" ", text)).lower())
    scores = {language: sum(w in known for w in words) for language, known in _WORDS.items()}
    best = max(scores, key=lambda language: scores[language])
    if scores[best] == 0:
        return "en", 0.3
    return best, min(1.0, 0.5 + scores[best] / max(len(words), 1))


def _swap_text(text: str) -> str:
    # Character references stay as they are (`&amp;` must not become `&AMP;`).
    return "".join(p if _REFERENCE.fullmatch(p) else p.swapcase() for p in _REFERENCE.split(text))


def fake_translate(text: str, target: str, *, markup: bool) -> str:
    """The deterministic "translation" of `text` into `target` (see the module's doc)."""
    if not markup:
        return f"[{target}] {_swap_text(text)}"
    out: list[str] = []
    prefixed = False
    for piece in _TAG_OR_TEXT.split(text):
        if not piece or piece.startswith("<"):
            out.append(piece)
            continue
        swapped = _swap_text(piece)
        if not prefixed and piece.strip():
            leading = len(piece) - len(piece.lstrip())
            swapped = f"{swapped[:leading]}[{target}] {swapped[leading:]}"
            prefixed = True
        out.append(swapped)
    return "".join(out)


def is_well_formed(fragment: str) -> bool:
    """Whether every tag of an HTML fragment is closed in order (what `textType=html` needs)."""
    stack: list[str] = []
    for tag in re.findall(r"""<(?:[^>"']|"[^"]*"|'[^']*')*>""", fragment):
        name = re.match(r"</?\s*([A-Za-z][A-Za-z0-9-]*)", tag)
        if name is None:
            continue
        lowered = name.group(1).lower()
        if tag.startswith("</"):
            if not stack or stack.pop() != lowered:
                return False
        elif not tag.rstrip(">").endswith("/") and lowered not in ("br", "hr", "img", "wbr"):
            stack.append(lowered)
    return not stack


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class StandIn:
    """What every stand-in shares: call counts, recorded requests, scripted failures, delay."""

    languages: tuple[str, ...] = tuple(_NAMES)
    # Seconds to wait before answering a translation (a slow provider).
    delay: float = 0.0
    quota_exhausted: bool = False
    # Every request answered with the provider's 503 (a provider that is down but reachable).
    unavailable: bool = False
    calls: Counter[str] = field(default_factory=Counter)
    requests: list[Recorded] = field(default_factory=list)
    _failures: deque[tuple[int, Any, dict[str, str]]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _initial_languages: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        self._initial_languages = self.languages

    def fail_next(
        self, status: int, body: Any = None, times: int = 1, headers: dict[str, str] | None = None
    ) -> None:
        """The next `times` translation requests get this answer (`body` None: the provider's
        documented error body for `status`)."""
        for _ in range(times):
            self._failures.append((status, body, headers or {}))

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.requests.clear()
            self._failures.clear()
        self.delay = 0.0
        self.quota_exhausted = False
        self.unavailable = False
        self.languages = self._initial_languages

    def translations(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/translate")]

    async def _record(self, request: Request, body: Any) -> None:
        params: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            params.setdefault(name, []).append(value)
        with self._lock:
            self.calls[request.url.path] += 1
            self.requests.append(
                Recorded(request.method, request.url.path, params, dict(request.headers), body)
            )

    async def _scripted(self) -> tuple[int, Any, dict[str, str]] | None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.unavailable:
            return 503, None, {}
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def app(self) -> Starlette:
        raise NotImplementedError

    @contextlib.contextmanager
    def serving(self, port: int | None = None) -> Iterator[str]:
        """Runs the stand-in on 127.0.0.1 (a free port unless given); yields its base URL."""
        port = port or free_port()
        server = uvicorn.Server(
            uvicorn.Config(self.app(), host=HOST, port=port, log_level="warning", timeout_graceful_shutdown=1)
        )
        thread = threading.Thread(target=server.run, name=f"{type(self).__name__}-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start on port {port}")
            time.sleep(0.01)
        try:
            yield f"http://{HOST}:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)


async def _json_body(request: Request) -> tuple[Any, bool]:
    raw = await request.body()
    try:
        return json.loads(raw), True
    except ValueError:
        return None, False


# -- Microsoft Translator v3 -----------------------------------------------------------------


_MICROSOFT_MESSAGES = {
    400000: "One of the request inputs is not valid.",
    400021: "The API version parameter is missing or invalid.",
    400035: "The source language (From field) is not valid.",
    400036: "The target language (To field) is missing or invalid.",
    400050: "The input text is too long.",
    400071: "The value is not valid for TextType.",
    400072: "The array of input text has too many elements.",
    400074: "The body of the request is not valid JSON.",
    400077: "The maximum request size has been exceeded.",
    401000: "The request is not authorized because credentials are missing or invalid.",
    403001: "The operation is not allowed because the subscription has exceeded its free quota.",
    415000: "The Content-Type header is missing or invalid.",
    429001: "The server rejected the request because the client has exceeded request limits.",
    500000: "An unexpected error occurred.",
    503000: "Service is temporarily unavailable.",
}


def microsoft_error(code: int, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": _MICROSOFT_MESSAGES.get(code, "Error.")}}
    return JSONResponse(
        body, status_code=code // 1000, headers={"X-RequestId": str(uuid.uuid4()), **(headers or {})}
    )


@dataclass
class MicrosoftTranslator(StandIn):
    key: str = "test-microsoft-key"
    # A regional resource: requests must name this region (None: a global resource).
    region: str | None = None
    max_characters: int = 10_000
    max_texts: int = 100

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/translate", self._translate, methods=["POST"]),
                Route("/detect", self._detect, methods=["POST"]),
                Route("/languages", self._languages, methods=["GET"]),
            ]
        )

    def _authorised(self, request: Request) -> bool:
        if request.headers.get("ocp-apim-subscription-key") != self.key:
            return False
        return self.region is None or request.headers.get("ocp-apim-subscription-region") == self.region

    async def _texts(self, request: Request) -> list[str] | JSONResponse:
        if request.query_params.get("api-version") != "3.0":
            return microsoft_error(400021)
        if not self._authorised(request):
            return microsoft_error(401000)
        if not request.headers.get("content-type", "").startswith("application/json"):
            return microsoft_error(415000)
        body, ok = await _json_body(request)
        if not ok or not isinstance(body, list):
            return microsoft_error(400074)
        if len(body) > self.max_texts:
            return microsoft_error(400072)
        texts = [item.get("Text") if isinstance(item, dict) else None for item in body]
        if any(not isinstance(t, str) for t in texts):
            return microsoft_error(400000)
        return [t for t in texts if isinstance(t, str)]

    async def _translate(self, request: Request) -> Response:
        body, _ = await _json_body(request)
        await self._record(request, body)
        texts = await self._texts(request)
        if isinstance(texts, JSONResponse):
            return texts
        scripted = await self._scripted()
        if scripted is not None:
            status, custom, headers = scripted
            if custom is not None:
                return JSONResponse(custom, status_code=status, headers=headers)
            return microsoft_error(status * 1000 + (1 if status in (403, 429) else 0), headers)
        if self.quota_exhausted:
            return microsoft_error(403001)
        targets = request.query_params.getlist("to")
        source = request.query_params.get("from")
        text_type = request.query_params.get("textType", "plain")
        if not targets or any(t not in self.languages for t in targets):
            return microsoft_error(400036)
        if source is not None and source not in self.languages:
            return microsoft_error(400035)
        if text_type not in ("plain", "html"):
            return microsoft_error(400071)
        if any(len(t) > self.max_characters for t in texts):
            return microsoft_error(400050)
        total = sum(len(t) for t in texts) * len(targets)
        if total > self.max_characters:
            return microsoft_error(400077)
        if text_type == "html" and not all(is_well_formed(t) for t in texts):
            return microsoft_error(400000)
        answer = []
        for text in texts:
            item: dict[str, Any] = {
                "translations": [
                    {"text": fake_translate(text, target, markup=text_type == "html"), "to": target}
                    for target in targets
                ]
            }
            if source is None:
                language, score = detect(text)
                item = {"detectedLanguage": {"language": language, "score": score}, **item}
            answer.append(item)
        return JSONResponse(
            answer,
            headers={
                "X-RequestId": str(uuid.uuid4()),
                "X-MT-System": "Neural",
                "X-Metered-Usage": str(total),
            },
        )

    async def _detect(self, request: Request) -> Response:
        body, _ = await _json_body(request)
        await self._record(request, body)
        texts = await self._texts(request)
        if isinstance(texts, JSONResponse):
            return texts
        answer = []
        for text in texts:
            language, score = detect(text)
            answer.append(
                {
                    "language": language,
                    "score": score,
                    "isTranslationSupported": True,
                    "isTransliterationSupported": False,
                }
            )
        return JSONResponse(answer)

    async def _languages(self, request: Request) -> Response:
        # No authentication, as documented.
        await self._record(request, None)
        if self.unavailable:
            return microsoft_error(503000)
        if request.query_params.get("api-version") != "3.0":
            return microsoft_error(400021)
        translation = {
            code: {"name": _NAMES.get(code, code), "nativeName": _NAMES.get(code, code), "dir": "ltr"}
            for code in self.languages
        }
        return JSONResponse({"translation": translation}, headers={"ETag": '"stand-in"'})


# -- LibreTranslate ---------------------------------------------------------------------------


def libre_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@dataclass
class LibreTranslate(StandIn):
    languages: tuple[str, ...] = ("en", "es", "fr", "de", "it", "ja", "pt", "zh-Hans")
    # With a key the server runs with --api-keys and refuses requests without it.
    api_key: str | None = None
    char_limit: int = -1

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/translate", self._translate, methods=["POST"]),
                Route("/detect", self._detect, methods=["POST"]),
                Route("/languages", self._languages, methods=["GET"]),
            ]
        )

    async def _params(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            body, ok = await _json_body(request)
            if not ok or not isinstance(body, dict):
                return {"_invalid": True}
            return body
        form = await request.form()
        return {k: v for k, v in form.items()}

    def _key_problem(self, params: dict[str, Any]) -> JSONResponse | None:
        if self.api_key is None:
            return None
        given = params.get("api_key")
        if given and given != self.api_key:
            return libre_error(403, "Invalid API key")
        if not given:
            return libre_error(400, "Visit https://portal.libretranslate.com to get an API key")
        return None

    async def _translate(self, request: Request) -> Response:
        params = await self._params(request)
        await self._record(request, params)
        if params.get("_invalid"):
            return libre_error(400, "Invalid JSON format")
        problem = self._key_problem(params)
        if problem is not None:
            return problem
        scripted = await self._scripted()
        if scripted is not None:
            status, custom, headers = scripted
            message = {429: "Slowdown: 10 per 1 minute", 403: "Too many request limits violations"}.get(
                status, "Cannot translate text: internal error"
            )
            return JSONResponse(custom or {"error": message}, status_code=status, headers=headers)
        q, source, target = params.get("q"), params.get("source"), params.get("target")
        text_format = params.get("format") or "text"
        for name, value in (("q", q), ("source", source), ("target", target)):
            if not value:
                return libre_error(400, f"Invalid request: missing {name} parameter")
        batch = isinstance(q, list)
        given: list[Any] = q if isinstance(q, list) else [q]
        texts = [t for t in given if isinstance(t, str)]
        if len(texts) != len(given):
            return libre_error(400, "Invalid request: q must be text")
        chars = sum(len(t) for t in texts)
        if self.char_limit != -1 and chars > self.char_limit:
            return libre_error(
                400, f"Invalid request: request ({chars}) exceeds text limit ({self.char_limit})"
            )
        if source != "auto" and source not in self.languages:
            return libre_error(400, f"{source} is not supported")
        if target not in self.languages:
            return libre_error(400, f"{target} is not supported")
        if text_format not in ("text", "html"):
            return libre_error(400, f"{text_format} format is not supported")
        detected = []
        for text in texts:
            language, score = detect(text) if source == "auto" else (str(source), 1.0)
            detected.append({"confidence": round(score * 100, 1), "language": language})
        translated = [
            html.unescape(fake_translate(t, str(target), markup=text_format == "html")) for t in texts
        ]
        answer: dict[str, Any] = {"translatedText": translated if batch else translated[0]}
        if source == "auto":
            answer["detectedLanguage"] = detected if batch else detected[0]
        return JSONResponse(answer)

    async def _detect(self, request: Request) -> Response:
        params = await self._params(request)
        await self._record(request, params)
        problem = self._key_problem(params)
        if problem is not None:
            return problem
        q = params.get("q")
        if not q or not isinstance(q, str):
            return libre_error(400, "Invalid request: missing q parameter")
        language, score = detect(q)
        return JSONResponse([{"confidence": round(score * 100, 1), "language": language}])

    async def _languages(self, request: Request) -> Response:
        await self._record(request, None)
        if self.unavailable:
            return libre_error(500, "Cannot load languages")
        return JSONResponse(
            [
                {"code": code, "name": _NAMES.get(code, code), "targets": [c for c in self.languages]}
                for code in self.languages
            ]
        )


# -- DeepL ------------------------------------------------------------------------------------


def deepl_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


@dataclass
class DeepL(StandIn):
    key: str = "test-deepl-key:fx"
    sources: tuple[str, ...] = ("DE", "EN", "ES", "FR", "IT", "JA", "PT", "ZH")
    targets: tuple[str, ...] = ("DE", "EN-GB", "EN-US", "ES", "FR", "IT", "JA", "PT-BR", "PT-PT", "ZH-HANS")
    max_texts: int = 50
    max_bytes: int = 128 * 1024

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v2/translate", self._translate, methods=["POST"]),
                Route("/v2/languages", self._languages, methods=["GET"]),
            ]
        )

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"DeepL-Auth-Key {self.key}"

    async def _translate(self, request: Request) -> Response:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            body, ok = await _json_body(request)
            params: dict[str, Any] = body if ok and isinstance(body, dict) else {}
        else:
            form = await request.form()
            params = {"text": form.getlist("text"), **{k: v for k, v in form.items() if k != "text"}}
        await self._record(request, params)
        if not self._authorised(request):
            return deepl_error(403, "Authorization failure, check auth_key")
        if len(raw) > self.max_bytes:
            return deepl_error(413, "Request Entity Too Large")
        scripted = await self._scripted()
        if scripted is not None:
            status, custom, headers = scripted
            message = {456: "Quota exceeded", 429: "Too many requests"}.get(status, "Internal error")
            return JSONResponse(custom or {"message": message}, status_code=status, headers=headers)
        if self.quota_exhausted:
            return deepl_error(456, "Quota exceeded")
        texts = params.get("text")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return deepl_error(400, "Parameter 'text' not specified.")
        if len(texts) > self.max_texts:
            return deepl_error(413, "Too many texts")
        target = str(params.get("target_lang") or "").upper()
        source = params.get("source_lang")
        # The deprecated targets EN and PT are still accepted.
        if target not in self.targets and target not in ("EN", "PT"):
            return deepl_error(400, "Value for 'target_lang' not supported.")
        if source is not None and str(source).upper() not in self.sources:
            return deepl_error(400, "Value for 'source_lang' not supported.")
        markup = params.get("tag_handling") in ("html", "xml")
        translations = []
        for text in texts:
            detected = str(source).upper() if source else detect(text)[0].upper()
            translations.append(
                {
                    "detected_source_language": detected,
                    "text": fake_translate(text, target.lower(), markup=markup),
                }
            )
        return JSONResponse({"translations": translations})

    async def _languages(self, request: Request) -> Response:
        await self._record(request, None)
        if self.unavailable:
            return deepl_error(503, "Service unavailable")
        if not self._authorised(request):
            return deepl_error(403, "Authorization failure, check auth_key")
        kind = request.query_params.get("type", "source")
        if kind == "target":
            return JSONResponse(
                [{"language": c, "name": c, "supports_formality": c in ("DE", "FR")} for c in self.targets]
            )
        return JSONResponse([{"language": c, "name": c} for c in self.sources])


STAND_INS: dict[str, type[StandIn]] = {
    "microsoft": MicrosoftTranslator,
    "libretranslate": LibreTranslate,
    "deepl": DeepL,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a translation provider stand-in on 127.0.0.1.")
    parser.add_argument("provider", choices=sorted(STAND_INS))
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    stand_in = STAND_INS[args.provider]()
    with stand_in.serving(args.port) as url:
        print(f"{args.provider} stand-in at {url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
