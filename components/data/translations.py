"""Training prompts the team wrote in English and translated into 16 more languages.

The guard's wheel sources are English; its multilingual encoder reads other languages, but a
threshold fitted on English data sits too high for them (the probe set's recall was 0.43-0.77
in most languages at AUROC 0.89-0.99). These rows give the model harmful, look-alike and
benign prompts in the languages people write in, each id in every language of `LANGUAGES`.

They are not the probe set's prompts, nor translations of them: the probe set
(components.evaluation.probes) stays the held-out measure, and a test checks that no text here is a
probe text or close to one. Each part (`translation_data/<part>.csv`, the probe set's columns
and rules) covers hazards or kinds of its own; all rows are one source and one `group`
("translated"), so leave-one-source-out holds them out together.

    python -m components.data.translations --check components/data/translation_data/part.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from components.core.errors import DatasetError
from components.evaluation import probes

TRANSLATED = "translated"  # the source and group name of these rows
DATA_DIR = Path(__file__).resolve().parent / "translation_data"
ID_PATTERN = r"[a-z]+\d+"  # the part's letter(s) and a number: a01
# The probe set's 13 languages and four more (all Latin-script) that the probe set leaves out.
LANGUAGES: dict[str, tuple[str, str]] = {
    **probes.LANGUAGES,
    "fr": ("French", "LATIN"), "pt": ("Portuguese", "LATIN"), "tr": ("Turkish", "LATIN"),
    "id": ("Indonesian", "LATIN"),
}


def load_part(path: str | Path) -> pd.DataFrame:
    """One part, checked with the probe set's rules over `LANGUAGES`.

    Raises:
        DatasetError: the file is missing, unreadable as UTF-8, or breaks a rule (all listed).
    """
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError as exc:
        raise DatasetError(f"translation part not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"translation part {path} is not UTF-8: {exc}") from exc
    problems = probes.check_probes(df, LANGUAGES)
    if "id" in df.columns:  # a text in the id column passes every other rule
        bad = sorted(set(df.loc[~df["id"].str.fullmatch(ID_PATTERN), "id"]))
        if bad:
            problems.append(f"ids must look like <part><number> (a01), found {bad[:3]}")
    if problems:
        raise DatasetError(f"translation part {path}: {len(problems)} problem(s): "
                           + "; ".join(problems[:20]))
    return df


def load_translations(data_dir: str | Path = DATA_DIR) -> pd.DataFrame:
    """Every part in `data_dir`, checked one by one and together (no id or text twice).

    Raises:
        DatasetError: no part, a part breaks a rule, or two parts share an id or a text.
    """
    paths = sorted(Path(data_dir).glob("*.csv"))
    if not paths:
        raise DatasetError(f"no translation parts (*.csv) in {data_dir}")
    df = pd.concat([load_part(p) for p in paths], ignore_index=True)
    dup = df[df.duplicated("text", keep=False)]
    if len(dup):
        raise DatasetError("translation parts repeat a text: "
                           f"{sorted(set(dup['id'] + '/' + dup['lang']))[:10]}")
    if df.duplicated(["id", "lang"]).any():
        raise DatasetError("translation parts repeat an id: "
                           f"{sorted(set(df.loc[df.duplicated(['id', 'lang']), 'id']))[:10]}")
    return df


def translated_rows(seed: int = 42) -> pd.DataFrame:  # seed: GENERATED's signature
    """The translations as ingest rows: source and group `TRANSLATED`, origin
    "translated:<id>:<lang>"."""
    return probes.as_ingest_rows(load_translations(), TRANSLATED)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", nargs="*", default=None,
                        help="parts to check (default: every part in translation_data/)")
    args = parser.parse_args(argv)
    try:
        df = (pd.concat([load_part(p) for p in args.check], ignore_index=True) if args.check
              else load_translations())
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = df.groupby(["kind"])["id"].nunique().to_dict()
    print(f"{df['id'].nunique()} ids x {df['lang'].nunique()} languages = {len(df)} rows; "
          f"ids per kind {counts}; hazards "
          f"{df.loc[df['category_code'] != '', 'category_code'].value_counts().to_dict()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
