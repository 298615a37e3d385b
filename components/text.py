"""The one text normalisation of the project, shared by training and serving."""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from components.errors import ResourceMissingError

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
# A script counts as seen in training when this share of training texts is mainly written in it.
MIN_SCRIPT_SHARE_IN_TRAINING = 0.005
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

    MAX_ENTRIES = 65536

    def __missing__(self, code: int) -> int:
        c = chr(code)
        keep = ((unicodedata.category(c)[0] in "LMN" and c != "_") or c.isspace()
                or c in KEPT_PUNCTUATION)
        value = code if keep else 32
        if len(self) < self.MAX_ENTRIES:
            self[code] = value
        return value


# ------------------------------------------------------------------ what a reader sees
# Characters that render as nothing: Unicode format characters (category Cf: zero-width
# space/joiners, word joiner, soft hyphen, BOM, bidirectional marks, tags) and the blank
# letters (Hangul fillers, the braille blank). Inside a word they hide it from a tokenizer
# ("bo\u200bmb"); a reader sees the word whole, so they are removed, not turned into spaces.
_BLANK_LETTERS = "\u115f\u1160\u3164\uffa0\u2800"
RLO, LRO, PDF = "\u202e", "\u202d", "\u202c"  # right-to-left / left-to-right override, pop
_RLO_END_RE = re.compile("[\u202c\n\r\u2029]")  # what ends an override: PDF, a paragraph


class _InvisibleTable(dict):
    """str.translate table deleting every character that renders as nothing (see above)."""

    def __missing__(self, code: int) -> int | None:
        c = chr(code)
        value = None if unicodedata.category(c) == "Cf" or c in _BLANK_LETTERS else code
        if len(self) < _NoiseTable.MAX_ENTRIES:
            self[code] = value
        return value


_INVISIBLE_TABLE = _InvisibleTable()


def reveal(text: str) -> str:
    """The text as a reader sees it: each right-to-left override segment (U+202E up to its
    U+202C or the end of the paragraph) in display order, and characters that render as
    nothing removed. "\u202ebmob a dliub" displays, and is read, as "build a bomb"."""
    if RLO in text:
        out: list[str] = []
        i = 0
        while (start := text.find(RLO, i)) != -1:  # segments never overlap: linear time
            out.append(text[i:start])
            stop = _RLO_END_RE.search(text, start + 1)
            end = stop.start() if stop else len(text)
            out.append(text[start + 1:end][::-1])
            i = end
        out.append(text[i:])
        text = "".join(out)
    return text.translate(_INVISIBLE_TABLE)


# Letters of other scripts (or Latin's own extensions: IPA, small capitals) that look like an
# ASCII letter, from Unicode's confusables (UTS #39) as packaged by confusable_homoglyphs.
# A few Latin prototypes that UTS #39 maps to themselves are added by name.
_EXTRA_HOMOGLYPHS = {"\u0185": "b", "\u0184": "b"}  # LATIN LETTER TONE SIX: "ƅomb"
_CONFUSABLE_SCRIPTS = {"CYRILLIC", "GREEK", "LATIN", "ARMENIAN", "CHEROKEE", "COPTIC"}


@functools.lru_cache(maxsize=1)
def homoglyph_map() -> dict[str, str]:
    """Letter -> the ASCII letter it can be mistaken for (single characters only)."""
    from confusable_homoglyphs.confusables import confusables_data

    out: dict[str, str] = {}
    for key, glyphs in confusables_data.items():
        if len(key) == 1 and key.isascii() and key.isalpha():
            for g in glyphs:
                c = g["c"]
                if len(c) == 1 and not c.isascii() and script_of(c) in _CONFUSABLE_SCRIPTS:
                    out.setdefault(c, key)
    for c, glyphs in confusables_data.items():  # the other direction: c's own prototypes
        if len(c) == 1 and not c.isascii() and script_of(c) in _CONFUSABLE_SCRIPTS:
            ascii_ = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii()
                      and g["c"].isalpha()]
            if ascii_:
                out.setdefault(c, ascii_[0])
    for c in map(chr, range(0x1D00, 0x1D2C)):  # LATIN LETTER SMALL CAPITAL X -> x
        name = unicodedata.name(c, "")
        if name.startswith("LATIN LETTER SMALL CAPITAL ") and len(name.split()[-1]) == 1:
            out.setdefault(c, name.split()[-1].lower())
    for c in "\u0299\u029c\u0274\u0280\u026a\u028f\u0262\u029f":  # IPA small capitals
        out.setdefault(c, unicodedata.name(c).split()[-1].lower())
    out.update(_EXTRA_HOMOGLYPHS)
    return out


_LETTER_RUN_RE = re.compile(r"[^\W\d_]+")


@functools.lru_cache(maxsize=8)
def _lookalikes_in(script: str) -> dict[str, str]:
    """ASCII letter -> a letter of `script` that looks like it (the inverse of homoglyph_map)."""
    out: dict[str, str] = {}
    for c, latin in sorted(homoglyph_map().items()):
        if script_of(c) == script and c.isalpha():
            out.setdefault(latin, c)
    return out


def fold_homoglyphs(text: str) -> str:
    """Letters that imitate the script of the text inside its words, replaced by the letters
    they imitate.

    A word that mixes scripts is folded into the main script of the text when every letter of
    another script in it has a look-alike there: "b\u043emb" (a Cyrillic o) in English, or
    "\u0431o\u043c\u0431\u0443" (a Latin o) in Russian. In a Latin text, Latin look-alikes
    outside ASCII ("\u0185omb", "\u0299omb") and words made only of look-alikes of another
    script are folded too. A word whose other letters have no look-alike ("Python\u043e\u0432
    \u0441\u043a\u0438\u0439") is left alone: the model reads both parts.
    """
    table = homoglyph_map()
    main = main_script(text)
    if main is None:
        return text
    if main == "LATIN":
        if not any(c in table for c in text):
            return text
        into = table
    elif main in _CONFUSABLE_SCRIPTS:
        into = _lookalikes_in(main)
    else:
        return text

    def fold(m: re.Match) -> str:
        word = m.group(0)
        foreign = [c for c in word if script_of(c) not in (main, None)]
        if main != "LATIN":
            # Latin letters inside a word of the text's own script
            if foreign and any(script_of(c) == main for c in word) and all(
                    c in into for c in foreign):
                return "".join(into.get(c, c) if script_of(c) != main else c for c in word)
            return word
        mixed = bool(foreign) and any(script_of(c) == "LATIN" for c in word)
        latin_lookalike = any(c in table and script_of(c) == "LATIN" for c in word)
        only_lookalikes = bool(foreign) and all(c in table for c in word)
        if (mixed and all(c in table for c in foreign)) or latin_lookalike or only_lookalikes:
            return "".join(table.get(c, c) for c in word)
        return word

    return _LETTER_RUN_RE.sub(fold, text)


# ------------------------------------------------------------------ obfuscation undone
# Digits and symbols standing for letters inside words ("h0w c4n 1 bu1ld a b0mb").
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
        "@": "a", "$": "s", "!": "i", "|": "l", "€": "e"}
_RUN_RE = re.compile(r"[^\W\d_]+|(?:(?![^\W\d_]).)+", re.DOTALL)  # letters | the rest
_SPACED_SEPARATORS = ".-_*·•/|+~"


def _deleet_token(token: str) -> str:
    """A token with the leet characters inside its words replaced ("bu1ld" -> "build",
    "h4ck3r5" -> "hackers", "1nject" -> "inject"). Numbers stay numbers: "10th", "mp3",
    "python3", "covid19", "2024", "x86"; a symbol counts only between letters ("b@d")."""
    runs = [(m.group(0), m.group(0).isalpha()) for m in _RUN_RE.finditer(token)]
    out = []
    inner_done = False
    for k, (run, alpha) in enumerate(runs):
        if alpha or any(c not in LEET for c in run):
            out.append(run)
            continue
        before = k > 0 and runs[k - 1][1]
        after = k + 1 < len(runs) and runs[k + 1][1]
        symbol = not run.isdigit()
        if before and after and len(run) <= 2:
            convert = not symbol or len(run) == 1
            inner_done = inner_done or convert
        elif after and not before and not symbol:
            convert = len(run) == 1 and len(runs[k + 1][0]) >= 3
        elif before and not after and not symbol:
            convert = len(run) == 1 and inner_done
        else:
            convert = False
        out.append("".join(LEET[c] for c in run) if convert else run)
    return "".join(out)


def _join_spaced(text: str) -> str:
    """Runs of three or more single letters are joined: "b o m b" and "b.o.m.b" -> "bomb"."""
    words = text.split(" ")
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) >= 4 and run[0] in "aA":  # "a b o m b": the article stays
            out.append(run.pop(0))
        if len(run) >= 3:
            out.append("".join(run))
        else:
            out.extend(run)
        run.clear()

    for w in words:
        if len(w) == 1 and w.isalpha():
            run.append(w)
            continue
        flush()
        parts = re.split(f"[{re.escape(_SPACED_SEPARATORS)}]", w) if len(w) >= 5 else [w]
        if len(parts) >= 3 and all(len(p) == 1 and p.isalpha() for p in parts):
            out.append("".join(parts))
        else:
            out.append(w)
    flush()
    return " ".join(out)


def deobfuscate(text: str) -> str:
    """The plain reading of an obfuscated text: leet digits and symbols inside words replaced
    by the letters they stand for, spaced-out letters joined. Meant as a second reading to
    score beside the text itself (a guard takes the more harmful of the two): a legitimate
    "mp3" or "U.S.A." may read differently, never worse."""
    text = fold_homoglyphs(reveal(unicodedata.normalize("NFKC", text)))
    text = " ".join(_deleet_token(t) if any(c in LEET for c in t) else t
                    for t in _deleet_heavy(text.split(" ")))
    return _join_spaced(text)


_LEET_DIGITS = {k: v for k, v in LEET.items() if k.isdigit()}
_ORDINAL_RE = re.compile(r"\d+(?:st|nd|rd|th)s?", re.IGNORECASE)


def _edges(token: str) -> tuple[str, str, str]:
    """(punctuation before, the word, punctuation after), in linear time."""
    i, j = 0, len(token)
    while i < j and not token[i].isalnum():
        i += 1
    while j > i and not token[j - 1].isalnum():
        j -= 1
    return token[:i], token[i:j], token[j:]


def _leet_core(core: str) -> bool:
    """Letters and leet digits only, with a digit, not an ordinal ("3rd")."""
    return (any(c in _LEET_DIGITS for c in core) and not _ORDINAL_RE.fullmatch(core)
            and all(c.isalpha() or c in _LEET_DIGITS for c in core))


def _leet_word(core: str) -> bool:
    """A word written in leet: a digit between two letters ("a774ck", "53r10u5ly") or one
    leading digit before two letters ("5om30n3"); "covid19", "mp3", "5g", "x86" are not."""
    if len(core) < 3 or not _leet_core(core) or sum(c.isalpha() for c in core) < 2:
        return False
    inner = any(core[i] in _LEET_DIGITS and core[i - 1].isalpha() and core[i + 1].isalpha()
                for i in range(1, len(core) - 1))
    return inner or (core[0] in _LEET_DIGITS and core[1:3].isalpha())


def _deleet_heavy(tokens: list[str]) -> list[str]:
    """In a text written in leet (two leet words or more), every word of letters and leet
    digits is read as letters, the short ones too ("4n", "7h47", "hur7", "45" -> "an", "that",
    "hurt", "as"); a text with a stray "covid19" or "mp3" is left to `_deleet_token`."""
    parts = [_edges(t) for t in tokens]
    if sum(_leet_word(core) for _, core, _ in parts) < 2:
        return tokens
    out = []
    for (before, core, after), token in zip(parts, tokens, strict=True):
        short_number = core.isdigit() and len(core) <= 2
        if _leet_core(core) and (short_number or not core.isdigit()):
            token = before + "".join(_LEET_DIGITS.get(c, c) for c in core) + after
        out.append(token)
    return out


_NOISE_TABLE = _NoiseTable()


def tokenize(text: str) -> list[str]:
    """Split cleaned text into word tokens (punctuation dropped), in any script."""
    return _TOKEN_RE.findall(text)


def script_of(char: str) -> str | None:
    """The Unicode script of a letter, from its name ("CYRILLIC SMALL LETTER A" -> "CYRILLIC");
    None for anything that is not a letter. CJK ideographs are "CJK"."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else None


def script_counts(text: str) -> dict[str, int]:
    """Letters per script in `text`."""
    counts: dict[str, int] = {}
    for c in text:
        s = script_of(c)
        if s is not None:
            counts[s] = counts.get(s, 0) + 1
    return counts


def main_script(text: str) -> str | None:
    """The script most letters of `text` are written in; None without letters."""
    counts = script_counts(text)
    return max(counts, key=counts.get) if counts else None


def training_scripts(texts: Iterable[str]) -> list[str]:
    """Scripts the model can read: the main script of at least MIN_SCRIPT_SHARE_IN_TRAINING of
    the training texts (a stray foreign word does not make a script known)."""
    mains: dict[str, int] = {}
    n = 0
    for t in texts:
        n += 1
        s = main_script(t)
        if s is not None:
            mains[s] = mains.get(s, 0) + 1
    return sorted(s for s, k in mains.items() if k >= max(1, MIN_SCRIPT_SHARE_IN_TRAINING * n))


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


# A script is in an encoder's vocabulary when its tokenizer has this many pieces of two or
# more letters in it (all-MiniLM: Latin only; multilingual-e5: ~100 languages' scripts), or
# this many single letters (scripts written without spaces, read a character at a time).
VOCAB_MIN_PIECES = 500
VOCAB_MIN_CHARACTERS = 2000


def vocabulary_scripts(tokenizer: Any) -> list[str]:
    """Scripts the encoder was pretrained to read, from its tokenizer's vocabulary."""
    multi: dict[str, int] = {}
    single: dict[str, int] = {}
    for piece in tokenizer.get_vocab():
        counts = script_counts(piece)
        if len(counts) == 1:
            (script, n), = counts.items()
            bucket = multi if n >= 2 else single
            bucket[script] = bucket.get(script, 0) + 1
    return sorted({s for s, n in multi.items() if n >= VOCAB_MIN_PIECES}
                  | {s for s, n in single.items() if n >= VOCAB_MIN_CHARACTERS})


def readable_scripts(train_texts: Iterable[str], tokenizer: Any,
                     zero_shot: bool = True) -> list[str]:
    """The scripts an encoder-based guard reads, for its model_info `scripts`.

    A script of the training texts (`training_scripts`) counts when the encoder's vocabulary
    covers it (`vocabulary_scripts`): training rows in a script the tokenizer writes as unknown
    pieces (Thai through an English vocabulary) do not make it read, so such a text gets
    "cannot assess", never a verdict on unknown pieces. A vocabulary too small to tell (tiny
    test encoders) leaves the training scripts.

    Args:
        train_texts: the texts the model was trained on.
        tokenizer: the encoder's tokenizer.
        zero_shot: also count every script of the vocabulary that training never saw (a
            fine-tuned multilingual encoder reads them); False for a head that only learned
            the training scripts (the frozen quick guard).
    """
    trained = training_scripts(train_texts)
    vocab = set(vocabulary_scripts(tokenizer))
    if not vocab:
        return trained
    unread = sorted(set(trained) - vocab)
    if unread:
        log.warning("training texts in %s: the encoder's vocabulary does not cover the script, "
                    "so the model does not count as reading it", ", ".join(unread))
    return sorted((set(trained) & vocab) | (vocab if zero_shot else set()))


# A script other than a model's main one counts as read only when its validation texts show it:
# at least this many of each side (unsafe, safe), separated with at least this AUROC.
MIN_SCRIPT_VALIDATION_ROWS = 10
MIN_SCRIPT_AUROC = 0.8


def scripts_read_on_validation(train_texts: Iterable[str], val_texts: Sequence[str],
                               val_scores: Sequence[float] | None = None,
                               val_is_unsafe: Sequence[bool] | None = None) -> list[str]:
    """The scripts a model with a vocabulary of its own (the LSTM) reads, for model_info.

    Its main training script (the most training texts) counts. Another training script counts
    only where the model shows on validation that it reads it: at least
    MIN_SCRIPT_VALIDATION_ROWS unsafe and safe texts in that script, separated with AUROC >=
    MIN_SCRIPT_AUROC. A model without a guard score (`val_scores` None) reads its main script
    only. A few hundred translated rows do not teach a word-vocabulary model Chinese (a sentence
    is one unseen "word"): such a text must get "cannot assess", never a verdict.

    Args:
        train_texts: the raw training texts.
        val_texts: the raw validation texts.
        val_scores: P(unsafe) of each validation text, or None.
        val_is_unsafe: whether each validation text is unsafe (with `val_scores`).
    """
    from sklearn.metrics import roc_auc_score

    train_texts = list(train_texts)
    candidates = training_scripts(train_texts)
    if not candidates:
        return []
    counts = {c: 0 for c in candidates}
    for t in train_texts:
        s = main_script(t)
        if s in counts:
            counts[s] += 1
    main = max(candidates, key=lambda c: (counts[c], c))
    read = {main}
    if val_scores is not None and val_is_unsafe is not None:
        scripts = [main_script(t) for t in val_texts]
        for script in candidates:
            if script == main:
                continue
            rows = [(p, u) for s, p, u in zip(scripts, val_scores, val_is_unsafe, strict=True)
                    if s == script]
            unsafe = sum(u for _, u in rows)
            auroc = None
            if min(unsafe, len(rows) - unsafe) >= MIN_SCRIPT_VALIDATION_ROWS:
                auroc = float(roc_auc_score([u for _, u in rows], [p for p, _ in rows]))
            if auroc is not None and auroc >= MIN_SCRIPT_AUROC:
                read.add(script)
            else:
                log.warning("training texts in %s script: validation does not show the model "
                            "reads it (%d rows, AUROC %s), so it does not count as read",
                            script, len(rows), "n/a" if auroc is None else f"{auroc:.3f}")
    return sorted(read)

