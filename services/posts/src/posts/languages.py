"""Post languages: what a client may set (ISO 639-1, plus the ISO 639-3 codes Mastodon accepts for
languages without a two-letter code) and the offline detector used when it sets none.

The detector (lingua) loads a model per language, which takes seconds: it is built once per
process, on first use or by `warm_up()` in the background at start-up, and shared by every app."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import structlog
from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

log = structlog.get_logger(__name__)

ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy
    da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy
    hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li
    ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa
    pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th
    ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu""".split()
)
# Mastodon's extra codes for languages without an ISO 639-1 code.
ISO_639_3_EXTRAS = frozenset(
    "ast chr ckb cnr csb gsw jbo kab kmr ldn lfn moh nds sco sma smj szl tai tok zba zgh".split()
)
VALID_CODES = ISO_639_1 | ISO_639_3_EXTRAS


def normalise(code: str) -> str | None:
    """`en`, `EN`, `en-GB`, `en_US` -> `en`; None when it is no language code we know."""
    base = code.strip().replace("_", "-").split("-", 1)[0].lower()
    return base if base in VALID_CODES else None


class Detector:
    def __init__(self, languages: Sequence[str], min_relative_distance: float, low_accuracy: bool = False):
        unknown = [code for code in languages if code not in ISO_639_1]
        if unknown:
            raise ValueError(f"DETECTED_LANGUAGES holds codes that are not ISO 639-1: {unknown}")
        self.languages = tuple(languages)
        self.min_relative_distance = min_relative_distance
        self.low_accuracy = low_accuracy
        self._detector: LanguageDetector | None = None
        self._lock = threading.Lock()

    def _built(self) -> LanguageDetector:
        with self._lock:
            if self._detector is None:
                codes = [IsoCode639_1.from_str(code) for code in self.languages]
                builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_minimum_relative_distance(
                    self.min_relative_distance
                )
                if self.low_accuracy:
                    builder = builder.with_low_accuracy_mode()
                self._detector = builder.with_preloaded_language_models().build()
                log.info("language_detector_ready", languages=len(codes))
            return self._detector

    def warm_up(self) -> None:
        """Build it now, in a daemon thread, so the first post does not wait for the models."""
        threading.Thread(target=self._built, name="language-detector", daemon=True).start()

    def detect(self, text: str) -> str | None:
        if not text.strip():
            return None
        language = self._built().detect_language_of(text)
        return language.iso_code_639_1.name.lower() if language is not None else None


_detectors: dict[tuple[tuple[str, ...], float, bool], Detector] = {}
_detectors_lock = threading.Lock()


def detector(languages: Sequence[str], min_relative_distance: float, low_accuracy: bool = False) -> Detector:
    """The process's detector for these settings (several apps in one process share it)."""
    key = (tuple(languages), min_relative_distance, low_accuracy)
    with _detectors_lock:
        if key not in _detectors:
            _detectors[key] = Detector(*key)
        return _detectors[key]
