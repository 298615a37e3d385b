"""Reading and validating the labelled prompt dataset; atomic writing of step outputs."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.core.errors import DatasetError

if TYPE_CHECKING:  # pandas is imported where a table is read: the servers import this module
    import pandas as pd

log = logging.getLogger(__name__)

PARQUET_SUFFIXES = (".parquet", ".pq")
REMOTE_PREFIXES = ("http://", "https://", "s3://", "gs://", "gcs://", "abfs://", "az://")


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_PREFIXES)


def read_table(uri: str, encoding: str = "utf-8-sig") -> pd.DataFrame:
    """Read a CSV or Parquet table from a local path or an fsspec URI (http(s), s3, gs...).

    Raises:
        DatasetError: the file is missing, empty, not valid in `encoding`, or unparseable.
    """
    import pandas as pd

    uri = str(uri)
    if not is_remote(uri):
        path = Path(uri)
        if not path.exists():
            raise DatasetError(f"dataset not found: {uri!r} (no such file)")
        if path.is_dir():
            raise DatasetError(f"dataset path is a directory, expected a CSV or Parquet file: {uri!r}")
        if path.stat().st_size == 0:
            raise DatasetError(f"dataset file is empty (0 bytes): {uri!r}")
    is_parquet = uri.lower().split("?", 1)[0].endswith(PARQUET_SUFFIXES)
    try:
        if is_parquet:
            df = pd.read_parquet(uri)
        else:
            df = pd.read_csv(uri, encoding=encoding, dtype=str, keep_default_na=True)
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"dataset {uri!r} is not valid {encoding}: byte 0x{exc.object[exc.start]:02x} at "
            f"position {exc.start} ({exc.reason}). Re-save it as UTF-8 or pass its encoding (--encoding)."
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"dataset {uri!r} is empty: no header and no rows") from exc
    except pd.errors.ParserError as exc:
        raise DatasetError(f"dataset {uri!r} could not be parsed as CSV: {exc}") from exc
    except ImportError as exc:
        raise DatasetError(
            f"cannot read {uri!r}: the filesystem/format driver is not installed ({exc}). "
            "Install the fsspec backend for the URI scheme (s3fs, gcsfs, ...)."
        ) from exc
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read dataset {uri!r}: {type(exc).__name__}: {exc}") from exc
    log.info("read %d rows x %d columns from %s", len(df), df.shape[1], uri)
    return df


def validate_schema(df: pd.DataFrame, text_columns: Sequence[str], label_column: str) -> None:
    """Check that the required columns exist and that there are rows.

    Raises:
        DatasetError: naming every missing column and the columns that were found.
    """
    required = [*text_columns, label_column]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DatasetError(
            f"dataset is missing required column(s) {missing}; found columns {list(df.columns)}. "
            "Rename them or pass --text-columns / --label-column."
        )
    if df.empty:
        raise DatasetError("dataset has a header but no rows")


def parse_columns(spec: str | Sequence[str]) -> list[str]:
    """Accept a comma-separated string or a list of column names (pipeline parameters are str)."""
    cols = [c.strip() for c in spec.split(",")] if isinstance(spec, str) else list(spec)
    cols = [c for c in cols if c]
    if not cols:
        raise DatasetError("no text columns given")
    return cols


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory that replaces `final` only if the block succeeds.

    On any exception the temporary directory is removed and `final` is left untouched, so a
    failed step never leaves half-written outputs.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; give the final dir normal permissions
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final) if final.is_dir() else final.unlink()
    tmp.rename(final)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


def read_training_splits(train_path: str | os.PathLike[str], val_path: str | os.PathLike[str],
                         label_map_path: str | os.PathLike[str]
                         ) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """A trainer's inputs: preprocess's label_map.json and the training and validation splits.

    Raises:
        DatasetError: a split without rows.
    """
    import pandas as pd

    train, val = pd.read_parquet(train_path), pd.read_parquet(val_path)
    if train.empty or val.empty:
        raise DatasetError("training and validation splits must not be empty")
    return read_json(label_map_path), train, val


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@dataclasses.dataclass(frozen=True)
class StepOutputs:
    """What a data step wrote: its directory, its files by name and its headline numbers.

    Attributes:
        out_dir: the step's output directory.
        stats: the step's headline numbers (also in its stats.json).
        files: output name -> path inside `out_dir` (the step's FILES).
    """

    out_dir: Path
    stats: dict
    files: Mapping[str, str]

    def path(self, name: str) -> Path:
        return self.out_dir / self.files[name]


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
