"""The one text normalisation of the project, shared by training and serving."""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from components.errors import ResourceMissingError

# Defaults for the dataset's columns; every step takes them as parameters.
TEXT_COLUMNS: tuple[str, ...] = ("query", "image descriptions")
LABEL_COLUMN = "Toxic Category"
# Separator used when several text columns are consolidated into one `text` field.
FIELD_SEPARATOR = ". "

_URL_RE = re.compile(r"(https?://\S+|www\.\S+)")
_EMAIL_RE = re.compile(r"\S+@\S+\.\S+")
_HTML_RE = re.compile(r"<[^>]{1,200}>")
# Keep letters, digits and the punctuation a transformer tokenizer learns from.
_NOISE_RE = re.compile(r"[^a-z0-9\s'?!.,&-]", re.IGNORECASE)
_REPEAT_PUNCT_RE = re.compile(r"([?!.,&-])\1+")
_SPACE_RE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([?!.,])")
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class TextSettings:
    """Preprocessing settings that are saved inside every model artifact.

    Attributes:
        text_columns: input columns joined (in order) into one `text` field.
        lowercase: lower-case the text.
        strip_accents: fold accented characters to ASCII.
        remove_stopwords: drop English stopwords from the LSTM text.
        stem: Porter-stem the LSTM text.
        separator: string placed between joined columns.
    """

    text_columns: tuple[str, ...] = TEXT_COLUMNS
    lowercase: bool = True
    strip_accents: bool = True
    remove_stopwords: bool = True
    stem: bool = True
    separator: str = FIELD_SEPARATOR

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["text_columns"] = list(self.text_columns)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        if "text_columns" in kwargs:
            kwargs["text_columns"] = tuple(kwargs["text_columns"])
        return cls(**kwargs)


def clean_text(text: str, settings: TextSettings = TextSettings()) -> str:  # noqa: B008 (frozen)
    """Normalise one text: accents, case, URLs/e-mails/HTML, symbol noise, whitespace.

    The result is what the transformer sees (no stemming, punctuation kept).
    """
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    text = unicodedata.normalize("NFKC", text)
    if settings.strip_accents:
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    if settings.lowercase:
        text = text.lower()
    text = _URL_RE.sub(" ", text)
    text = _EMAIL_RE.sub(" ", text)
    text = _HTML_RE.sub(" ", text)
    text = _NOISE_RE.sub(" ", text)
    text = _REPEAT_PUNCT_RE.sub(r"\1", text)
    text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
    return _SPACE_RE.sub(" ", text).strip()


def tokenize(text: str) -> list[str]:
    """Split cleaned text into word tokens (punctuation dropped)."""
    return _TOKEN_RE.findall(text)


@functools.lru_cache(maxsize=4)
def stopwords(language: str = "english") -> frozenset[str]:
    """NLTK's stopword list (NLTK data must be provisioned: `make setup`)."""
    from nltk.corpus import stopwords as sw

    try:
        return frozenset(sw.words(language))
    except LookupError as exc:
        raise ResourceMissingError(
            "NLTK 'stopwords' data not found. Run `make setup` (provisions it offline into "
            ".venv/nltk_data) or `python -m nltk.downloader stopwords` with internet access, "
            "or point NLTK_DATA at a directory that holds corpora/stopwords."
        ) from exc


@functools.lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import PorterStemmer

    return PorterStemmer()


def lstm_text(text: str, settings: TextSettings = TextSettings()) -> str:  # noqa: B008 (frozen)
    """Clean, drop stopwords and Porter-stem one text: the LSTM's input field."""
    tokens = tokenize(clean_text(text, settings))
    if settings.remove_stopwords:
        stops = stopwords()
        tokens = [t for t in tokens if t not in stops]
    if settings.stem:
        stem = _stemmer().stem
        tokens = [stem(t) for t in tokens]
    return " ".join(tokens)


def join_fields(values: Sequence[Any], separator: str = FIELD_SEPARATOR) -> str:
    """Join the text columns of one row, skipping empty and missing (NaN/None) values."""
    parts = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):  # NaN
            continue
        s = str(v).strip()
        if s:
            parts.append(s)
    return separator.join(parts)


def prepare(texts: Iterable[str], settings: TextSettings, *, for_lstm: bool) -> list[str]:
    """Apply the training-time transformation to raw texts at inference time."""
    fn = lstm_text if for_lstm else clean_text
    return [fn(t, settings) for t in texts]
