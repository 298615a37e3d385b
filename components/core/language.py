"""The language and script a text is written in, for the guard's verdicts and the console.

The script comes from the letters themselves (`components.core.scripts.main_script`: free, exact). The
language comes from py3langid (BSD-3-Clause, pinned in requirements/base.txt): langid.py's
naive-Bayes model over byte n-grams for 142 languages, bundled in the 4.6 MB wheel as an
npz file (no pickle, no download), about 0.1 ms per prompt after a 0.8 s first load (measured here). Two
languages that share a script (English, Italian, Vietnamese...) look the same to a script
check: the language is what tells a moderator that the guard may not read the prompt. Short
texts are often undecidable: below MIN_CONFIDENCE the language is "und" (undetermined, as in
BCP 47). Without py3langid installed the language is left out and the script still given.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

from components.core.scripts import main_script

log = logging.getLogger(__name__)

MIN_CONFIDENCE = 0.5  # py3langid's normalised probability below which the language is "und"
UNDETERMINED = "und"
# py3langid's language codes (ISO 639-1, else 639-3) -> English names; a code missing here is
# shown as it is.
LANGUAGE_NAMES: dict[str, str] = {
    "af": "Afrikaans", "am": "Amharic", "an": "Aragonese", "ar": "Arabic", "as": "Assamese",
    "az": "Azerbaijani", "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali", "br": "Breton",
    "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish",
    "de": "German", "dz": "Dzongkha", "el": "Greek", "en": "English", "eo": "Esperanto",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish",
    "fo": "Faroese", "fr": "French", "ga": "Irish", "gl": "Galician", "gu": "Gujarati",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "ht": "Haitian Creole", "hu": "Hungarian",
    "hy": "Armenian", "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese",
    "jv": "Javanese", "ka": "Georgian", "kk": "Kazakh", "km": "Khmer", "kn": "Kannada",
    "ko": "Korean", "ku": "Kurdish", "ky": "Kyrgyz", "la": "Latin", "lb": "Luxembourgish",
    "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian", "mg": "Malagasy", "mk": "Macedonian",
    "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "mt": "Maltese",
    "ne": "Nepali", "nl": "Dutch", "nn": "Norwegian Nynorsk",
    "no": "Norwegian", "oc": "Occitan", "or": "Odia", "pa": "Punjabi", "pl": "Polish",
    "ps": "Pashto", "pt": "Portuguese", "qu": "Quechua", "ro": "Romanian", "ru": "Russian",
    "rw": "Kinyarwanda", "se": "Northern Sami", "si": "Sinhala", "sk": "Slovak",
    "sl": "Slovenian", "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish",
    "ug": "Uyghur", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "vo": "Volapük",
    "wa": "Walloon", "xh": "Xhosa", "zh": "Chinese", "zu": "Zulu",
    "ace": "Acehnese", "ary": "Moroccan Arabic", "arz": "Egyptian Arabic", "ba": "Bashkir",
    "bcl": "Central Bikol", "crh": "Crimean Tatar", "ext": "Extremaduran", "fuv": "Nigerian Fulfulde",
    "fy": "Western Frisian", "gcf": "Guadeloupean Creole", "gcr": "Guianese Creole",
    "gd": "Scottish Gaelic", "gom": "Konkani", "grc": "Ancient Greek", "gug": "Paraguayan Guaraní",
    "guw": "Gun", "ha": "Hausa", "hbo": "Ancient Hebrew", "ig": "Igbo", "kab": "Kabyle",
    "kik": "Kikuyu", "lg": "Ganda", "lij": "Ligurian", "ln": "Lingala", "ltg": "Latgalian",
    "my": "Burmese", "nso": "Northern Sotho", "om": "Oromo", "pcm": "Nigerian Pidgin",
    "sa": "Sanskrit", "sdh": "Southern Kurdish", "sn": "Shona", "so": "Somali",
    "st": "Southern Sotho", "tg": "Tajik", "tk": "Turkmen", "tt": "Tatar", "uz": "Uzbek",
    "uzs": "Southern Uzbek", "vec": "Venetian", "wuu": "Wu Chinese", "yo": "Yoruba",
    "yue": "Cantonese", "zxx": "no linguistic content",
}


@dataclasses.dataclass(frozen=True)
class TextLanguage:
    """What a text is written in.

    Attributes:
        script: the Unicode script of most of its letters, lower-case ("latin", "cyrillic",
            "cjk"...), or None without letters.
        language: ISO 639-1 code, "und" when undetermined, None when no identifier is
            installed.
        confidence: the identifier's probability of `language` (None without one).
    """

    script: str | None
    language: str | None = None
    confidence: float | None = None

    @property
    def language_name(self) -> str | None:
        if self.language is None:
            return None
        if self.language == UNDETERMINED:
            return "undetermined"
        return LANGUAGE_NAMES.get(self.language, self.language)

    def to_dict(self) -> dict[str, Any]:
        return {"script": self.script, "language": self.language,
                "language_confidence": self.confidence}


@functools.lru_cache(maxsize=1)
def _identifier() -> Any:
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError:
        log.warning("py3langid is not installed: verdicts give the script, not the language "
                    "(pip install py3langid, pinned in requirements/base.txt)")
        return None
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify(text: str) -> TextLanguage:
    """The script and (when py3langid is installed) the language of `text`."""
    script = main_script(text)
    ident = _identifier()
    if ident is None:
        return TextLanguage(script.lower() if script else None)
    if script is None:
        return TextLanguage(None, UNDETERMINED, None)
    code, prob = ident.classify(text)
    prob = round(float(prob), 3)
    return TextLanguage(script.lower(), code if prob >= MIN_CONFIDENCE else UNDETERMINED, prob)
