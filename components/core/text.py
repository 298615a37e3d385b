"""The one text normalisation of the project, shared by training and serving (what a reader sees
in an obfuscated text: components.core.obfuscation; the scripts of a text: components.core.scripts)."""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from components.core.errors import ResourceMissingError
from components.core.obfuscation import MAX_TABLE_ENTRIES, fold_homoglyphs, reveal
from components.core.scripts import script_counts

log = logging.getLogger(__name__)

# Defaults for the dataset's columns; every step takes them as parameters.
TEXT_COLUMNS: tuple[str, ...] = ("query", "image descriptions")
LABEL_COLUMN = "Toxic Category"
# Separator used when several text columns are consolidated into one `text` field.
FIELD_SEPARATOR = ". "

# Every pattern below runs in linear time on any input (no nested or overlapping repeats that
# can backtrack): cleaning sees up to 100,000 characters of untrusted text per request. URLs and
# e-mail addresses are found per whitespace-separated token, not by a regex over the whole text.
_URL_PREFIX_RE = re.compile(r"https?://\S|www\.\S")
_HTML_RE = re.compile(r"<[^<>]{1,200}>")  # a tag never spans another "<": O(1) per "<"
# Kept besides letters, marks and digits of every script: the punctuation a tokenizer learns from.
KEPT_PUNCTUATION = "'?!.,&-"
_REPEAT_PUNCT_RE = re.compile(r"([?!.,&-])\1+")
_SPACE_RE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT_RE = re.compile(r" ([?!.,])")
# After cleaning only letters/marks/digits, whitespace and KEPT_PUNCTUATION remain: a word is a
# run of anything else, with at most one inner apostrophe ("it's").
_WORD = r"[^\s?!.,&'-]+"
_TOKEN_RE = re.compile(rf"{_WORD}(?:'{_WORD})?")
# Readability: a prompt whose letters are mostly in scripts the model never saw in training is
# not assessed (the model would see little more than [UNK]s and answer by the remaining words).
MAX_UNKNOWN_SCRIPT_SHARE = 0.25
DEFAULT_SCRIPTS: tuple[str, ...] = ("LATIN",)  # models saved before scripts were recorded
# Words that still mix scripts after homoglyphs are folded (a Latin b before Cyrillic letters): a text where at least
# this many, and this share of its words, do so is not assessed. Scripts one language writes
# words in together (Japanese kanji and kana, Korean hangul and hanja) count as one.
MIN_MIXED_WORDS = 2
MAX_MIXED_WORD_SHARE = 0.3
_SCRIPT_FAMILY = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK",
                  "HANGUL": "CJK", "HALFWIDTH": "CJK", "IDEOGRAPHIC": "CJK"}

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


def reader_settings(tokenizer: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The text settings a model reads with: the preprocess step's, except that an encoder
    whose tokenizer keeps case and accents (multilingual-e5, XLM-R) reads them kept. Folded to
    ASCII, Vietnamese "thuốc độc" (poison) becomes "thuoc đoc", which such a model cannot read;
    an uncased tokenizer (MiniLM, DistilBERT uncased) folds them itself: the settings stay."""
    normalizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    probe = "Élan Über"
    if normalizer is not None:
        folds = normalizer.normalize_str(probe) == "elan uber"
    else:
        folds = tokenizer.tokenize(probe) == tokenizer.tokenize("elan uber")
    return settings if folds else {**settings, "lowercase": False, "strip_accents": False}


def texts_as_read(df: Any, preprocess_settings: dict[str, Any], tokenizer: Any) -> list[str]:
    """The `text` column of a split as a model with `tokenizer` reads it: preprocess's cleaned
    text, or the raw text cleaned again with `reader_settings` (needs the `raw_text` column)."""
    settings = reader_settings(tokenizer, preprocess_settings)
    if settings == preprocess_settings:
        return df["text"].tolist()
    if "raw_text" not in df.columns:
        raise ValueError("a cased encoder reads the raw text: the split needs the `raw_text` "
                         "column that preprocess writes")
    text_settings = TextSettings.from_dict(settings)
    return [clean_text(t, text_settings) for t in df["raw_text"]]


def clean_text(text: str, settings: TextSettings = TextSettings()) -> str:  # noqa: B008 (frozen)
    """Normalise one text: what a reader sees (right-to-left overrides undone, invisible
    characters removed, homoglyphs inside Latin words folded), accents, case,
    URLs/e-mails/HTML, symbol noise, whitespace.

    The result is what the transformer sees (no stemming, punctuation kept).
    """
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    text = fold_homoglyphs(reveal(unicodedata.normalize("NFKC", text)))
    if settings.strip_accents:
        text = _strip_latin_accents(text)
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    if settings.lowercase:
        text = text.lower()
    text = " ".join(_drop_url_or_email(tok) for tok in text.split())
    text = _HTML_RE.sub(" ", text)
    text = text.translate(_NOISE_TABLE)
    text = _REPEAT_PUNCT_RE.sub(r"\1", text)
    text = _SPACE_RE.sub(" ", text)
    return _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text).strip()


def _strip_latin_accents(text: str) -> str:
    """Fold accented Latin letters to ASCII ("Héllo" -> "Hello"), leaving other scripts intact.

    Combining marks are dropped only after a Latin base letter: in Devanagari, Arabic or Hebrew
    the marks are vowels and signs that belong to the word.
    """
    out: list[str] = []
    base_is_latin = False
    for c in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(c):
            if not base_is_latin:
                out.append(c)
            continue
        base_is_latin = c < "\u0250"  # Basic Latin .. Latin Extended-B
        out.append(c)
    return unicodedata.normalize("NFC", "".join(out))


def _drop_url_or_email(token: str) -> str:
    """A whitespace-free token without its URL (from "http(s)://"/"www." on) or e-mail address.

    Same result as the patterns `https?://\\S+|www\\.\\S+` and `\\S+@\\S+\\.\\S+` over the token, in
    linear time.
    """
    at = token.find("@", 1)
    if at > 0 and token.find(".", at + 2, len(token) - 1) != -1:
        return " "
    m = _URL_PREFIX_RE.search(token)
    return token if m is None else token[:m.start()] + " "


class _NoiseTable(dict):
    """str.translate table: keep letters, marks and digits of every script, whitespace and
    KEPT_PUNCTUATION; every other character (symbols, emoji, other punctuation) becomes a space.
    Filled on first sight of each character (bounded)."""

    MAX_ENTRIES = MAX_TABLE_ENTRIES

    def __missing__(self, code: int) -> int:
        c = chr(code)
        keep = ((unicodedata.category(c)[0] in "LMN" and c != "_") or c.isspace()
                or c in KEPT_PUNCTUATION)
        value = code if keep else 32
        if len(self) < self.MAX_ENTRIES:
            self[code] = value
        return value


_NOISE_TABLE = _NoiseTable()


def tokenize(text: str) -> list[str]:
    """Split cleaned text into word tokens (punctuation dropped), in any script."""
    return _TOKEN_RE.findall(text)


def unreadable_reason(cleaned: str, scripts: Sequence[str] = DEFAULT_SCRIPTS) -> str | None:
    """Why a model trained on `scripts` cannot read this cleaned text; None when it can.

    A text is unreadable when nothing is left after cleaning (no letter or digit), or when more
    than MAX_UNKNOWN_SCRIPT_SHARE of its letters are in scripts the model was not trained on.
    Callers must never report such a text as safe.
    """
    counts = script_counts(cleaned)
    if not counts and not any(c.isdigit() for c in cleaned):
        return "nothing left to read after cleaning (no letters or digits)"
    total = sum(counts.values())
    unknown = {s: k for s, k in counts.items() if s not in scripts}
    if total and sum(unknown.values()) / total > MAX_UNKNOWN_SCRIPT_SHARE:
        names = ", ".join(s.lower() for s in sorted(unknown, key=unknown.get, reverse=True))
        return (f"written in a script the model was not trained on ({names}; it reads "
                f"{', '.join(s.lower() for s in scripts)})")
    words = tokenize(cleaned)
    mixed = [w for w in words if len({_SCRIPT_FAMILY.get(s, s) for s in script_counts(w)}) > 1]
    if len(mixed) >= MIN_MIXED_WORDS and len(mixed) >= MAX_MIXED_WORD_SHARE * len(words):
        names = sorted({s.lower() for w in mixed for s in script_counts(w)})
        return (f"letters of different scripts mixed inside words ({', '.join(names)}: "
                f"{len(mixed)} of {len(words)} words), a pattern used to hide words from filters")
    return None


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


@functools.lru_cache(maxsize=65536)
def _stem(token: str) -> str:
    """Porter stem of one token, cached: texts repeat their words (a 100,000-character prompt
    of one word repeated costs one stemming, not 20,000)."""
    return _stemmer().stem(token)


def lstm_text(text: str, settings: TextSettings = TextSettings()) -> str:  # noqa: B008 (frozen)
    """Clean, drop stopwords and Porter-stem one text: the LSTM's input field."""
    tokens = tokenize(clean_text(text, settings))
    if settings.remove_stopwords:
        stops = stopwords()
        tokens = [t for t in tokens if t not in stops]
    if settings.stem:
        tokens = [_stem(t) for t in tokens]
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
