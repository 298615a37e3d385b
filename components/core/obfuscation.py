"""What a reader sees in an obfuscated text: right-to-left overrides undone, invisible characters
removed, homoglyphs folded into the word's script, and the plain reading of leetspeak and spaced
letters (`deobfuscate`)."""

from __future__ import annotations

import functools
import re
import unicodedata

from components.core.scripts import main_script, script_of

MAX_TABLE_ENTRIES = 65536  # characters a lazily filled str.translate table remembers

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
        if len(self) < MAX_TABLE_ENTRIES:
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
