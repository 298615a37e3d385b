"""The console's input checks: a prompt, a reply, an image, a CSV file, and text shown literally.

Limits (each refusal is a message for the person, never an exception on the page):
a prompt holds at most MAX_PROMPT_CHARS characters; an image is a PNG, JPEG or WebP file of at
most MAX_IMAGE_BYTES and MAX_IMAGE_PIXELS; a CSV is UTF-8, at most MAX_CSV_BYTES and
MAX_CSV_ROWS rows, with at least one text column.
"""

from __future__ import annotations

import io
import re
import warnings
from typing import Any

import pandas as pd

from components.core.text import FIELD_SEPARATOR, join_fields

MAX_PROMPT_CHARS = 10_000
MAX_REPLY_CHARS = 50_000  # an assistant's reply is read whole, in windows (the guard's limits)
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 25_000_000  # width x height, read from the header (the caption server's limit)
IMAGE_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}  # Pillow format -> name
IMAGE_TYPES = ("png", "jpg", "jpeg", "webp")
MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_CSV_ROWS = 10_000
PREFERRED_TEXT_COLUMNS = ("query", "prompt", "text")
NO_COLUMN = "(none)"


# What Streamlit's markdown would interpret in text from users or services: emphasis, code,
# links and images, colour directives ([...]), HTML, tables, strikethrough, LaTeX ($...$), and
# at the start of a line headings, quotes, lists.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~$])")
_MARKDOWN_LINE_START = re.compile(r"(?m)^(\s*)([#>+-]|\d+[.)])")


def md_escape(text: Any) -> str:
    """Text shown literally by Streamlit's markdown elements (st.caption, st.info, ...)."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
    return _MARKDOWN_LINE_START.sub(
        lambda m: f"{m.group(1)}{m.group(2)[:-1]}\\{m.group(2)[-1]}", escaped)


class InputError(ValueError):
    """Input the console refuses; the message says what was expected and what was found."""


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


# --------------------------------------------------------------------------- checks
def check_prompt(text: str | None) -> str:
    """The prompt, stripped.

    Raises:
        InputError: empty or longer than MAX_PROMPT_CHARS.
    """
    text = (text or "").strip()
    if not text:
        raise InputError("The prompt is empty: type the prompt to check.")
    if len(text) > MAX_PROMPT_CHARS:
        raise InputError(f"The prompt has {len(text):,} characters; the console checks at most "
                         f"{MAX_PROMPT_CHARS:,}.")
    return text


def check_reply(text: str | None) -> str:
    """The assistant's reply, stripped ("" when none was given: the prompt alone is judged).

    Raises:
        InputError: longer than MAX_REPLY_CHARS.
    """
    text = (text or "").strip()
    if len(text) > MAX_REPLY_CHARS:
        raise InputError(f"The reply has {len(text):,} characters; the console checks at most "
                         f"{MAX_REPLY_CHARS:,}.")
    return text


def check_image(name: str, data: bytes) -> str:
    """Check an uploaded image without decoding its pixels; returns its format name.

    Raises:
        InputError: too large, not a PNG/JPEG/WebP image, or too many pixels.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise InputError(f"{name} is {_size(len(data))}; images may be at most "
                         f"{_size(MAX_IMAGE_BYTES)}.")
    if not data:
        raise InputError(f"{name} is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS)) as image:
                fmt, (width, height) = image.format, image.size
                image.verify()  # structure and checksums, without decoding the pixels
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{name} is not a PNG, JPEG or WebP image.") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(f"{name} is {width} x {height} pixels; images may have at most "
                         f"{MAX_IMAGE_PIXELS:,} pixels.")
    return IMAGE_FORMATS[fmt]


def joined_text(prompt: str, description: str | None) -> str:
    """The prompt and the image description joined as the training text joins its columns."""
    return join_fields([prompt, description], FIELD_SEPARATOR)


def read_csv(data: bytes, name: str = "the file") -> pd.DataFrame:
    """Parse an uploaded CSV of prompts (all values as text).

    Raises:
        InputError: too large, not UTF-8, unparseable, empty, too many rows, no text column.
    """
    if len(data) > MAX_CSV_BYTES:
        raise InputError(f"{name} is {_size(len(data))}; CSV files may be at most "
                         f"{_size(MAX_CSV_BYTES)}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name} is not UTF-8 text: save the CSV as UTF-8.") from None
    if not text.strip():
        raise InputError(f"{name} is empty.")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{name} is not a readable CSV: {first}") from None
    if len(df) == 0:
        raise InputError(f"{name} has a header but no rows.")
    if len(df) > MAX_CSV_ROWS:
        raise InputError(f"{name} has {len(df):,} rows; the console moderates at most "
                         f"{MAX_CSV_ROWS:,} rows per file: split it, or run the pipeline's "
                         "models on it offline.")
    if not text_columns(df):
        raise InputError(f"{name} has no text column (columns: "
                         f"{', '.join(map(str, df.columns))}): every column is empty or "
                         "numbers only.")
    return df


def text_columns(df: pd.DataFrame) -> list[str]:
    """Columns holding text: some non-empty value that is not a number; preferred names first."""
    found = []
    for column in df.columns:
        values = df[column].astype(str).str.strip()
        values = values[values != ""]
        if len(values) and pd.to_numeric(values, errors="coerce").isna().any():
            found.append(str(column))
    return sorted(found, key=lambda c: (c.lower() not in PREFERRED_TEXT_COLUMNS,
                                        found.index(c)))


