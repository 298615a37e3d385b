"""Caption server: BLIP on a tiny model built here, image validation (base64, formats, byte and
pixel limits, decompression bombs, truncation), v1/v2, and the CLI."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from kserve.errors import InvalidInput
from PIL import Image
from serving_utils import assert_rejected, b64, client_for, v1, v2, v2_outputs

from components.core.errors import ModelDirError
from serving import caption

pytestmark = pytest.mark.filterwarnings(
    "ignore::fastapi.exceptions.FastAPIDeprecationWarning")  # kserve 0.21 uses ORJSONResponse

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "photo", "of", "dog", "cat",
         "red", "square", "on", "the", "grass"]


def save_tiny_blip(path: Path, seed: int = 0) -> Path:
    """A randomly initialised BlipForConditionalGeneration + BlipProcessor saved to `path`."""
    import torch
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(WORDS)}, bos_token="[DEC]")
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                              tokenizer=tokenizer)
    config = BlipConfig(
        text_config={"vocab_size": len(WORDS), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 2,
                     "encoder_hidden_size": 32, "max_position_embeddings": 64,
                     "bos_token_id": WORDS.index("[DEC]"), "pad_token_id": 0,
                     "sep_token_id": WORDS.index("[SEP]"), "eos_token_id": WORDS.index("[SEP]")},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 16,
                       "projection_dim": 32},
        projection_dim=32)
    torch.manual_seed(seed)
    BlipForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def image_bytes(size=(48, 40), fmt="PNG", mode="RGB", noise=False, **save) -> bytes:
    if noise:
        rng = np.random.default_rng(0)
        image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    else:
        image = Image.new(mode, size, "red" if mode == "RGB" else 1)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims width x height (a decompression-bomb shape)."""
    data = bytearray(image_bytes((1, 1)))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def instance(data: bytes) -> dict:
    return {"image": {"b64": b64(data)}}


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory):
    return save_tiny_blip(tmp_path_factory.mktemp("blip") / "blip")


@pytest.fixture(scope="module")
def client(blip_dir):
    small = caption.CaptionModel("small", str(blip_dir), device="cpu",
                                 image_limits=caption.ImageLimits(max_bytes=20_000,
                                                                  max_pixels=10_000))
    default = caption.CaptionModel("caption", str(blip_dir), device="cpu")
    with client_for(small, default) as c:
        yield c


def _is_caption(text: str) -> bool:
    return isinstance(text, str) and set(text.split()) <= set(WORDS) - {"[DEC]", "[SEP]"}


# --------------------------------------------------------------------------- captioning
def test_v1_captions_images_of_several_formats(client):
    images = [image_bytes(fmt="PNG"), image_bytes(fmt="JPEG"), image_bytes(fmt="GIF"),
              image_bytes(mode="1", fmt="BMP"), image_bytes(fmt="WEBP"),
              image_bytes((300, 200), fmt="PNG", mode="1")]
    response = v1(client, "caption", [instance(d) for d in images])
    assert response.status_code == 200, response.text
    preds = response.json()["predictions"]
    assert len(preds) == len(images)
    assert all(set(p) == {"caption"} and _is_caption(p["caption"]) for p in preds)


def test_v2_captions_base64_tensors(client):
    data = [b64(image_bytes()), "data:image/png;base64," + b64(image_bytes((20, 30)))]
    out = v2_outputs(v2(client, "caption", {"image": data}))
    assert len(out["caption"]) == 2 and all(_is_caption(c) for c in out["caption"])


def test_same_image_same_caption(client):
    first = v1(client, "caption", [instance(image_bytes())]).json()
    assert v1(client, "caption", [instance(image_bytes())]).json() == first  # greedy


def test_metadata(client):
    meta = client.get("/v2/models/caption").json()
    assert meta["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "caption", "datatype": "BYTES", "shape": [-1]}]


# --------------------------------------------------------------------------- image checks
def test_open_image_converts_to_rgb_and_applies_limits():
    limits = caption.ImageLimits(max_bytes=10_000_000, max_pixels=10_000)
    image = caption.open_image(image_bytes((50, 40), mode="1"), "x", limits)
    assert (image.mode, image.size) == ("RGB", (50, 40))
    with pytest.raises(InvalidInput, match="101x100 = 10100 pixels"):
        caption.open_image(image_bytes((101, 100)), "x", limits)


@pytest.mark.parametrize(("body", "fragment"), [
    ([{"image": {"b64": "not base64 at all!"}}], "not valid base64"),
    ([{"image": {"b64": ""}}], "the image is empty"),
    ([{"image": {"b64": 12}}], "expected a base64 string, got int"),
    ([{"image": {"b64": b64(b"hello, I am plain text")}}], "not an image"),
    ([{"image": {"b64": b64(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")}}],
     "not an image in an accepted format"),
    ([{"image": {"b64": b64(image_bytes((64, 64), fmt="JPEG", noise=True)[:600])}}],
     "truncated or corrupt"),
    ([{"image": {"b64": b64(image_bytes((64, 64), fmt="PNG", noise=True)[:2000])}}],
     "truncated or corrupt"),
    ([{"image": {"b64": b64(image_bytes((200, 200), noise=True))}}], "accepts at most 20000"),
    ([{"image": {"b64": "A" * 40_000}}], "accepts at most 20000"),  # refused before decoding
    ([instance(image_bytes((101, 100), mode="1"))], "10100 pixels, this server accepts at most"),
    ([instance(png_claiming(30_000, 30_000))], "900000000 pixels"),
    ([instance(png_claiming(100_000, 100_000))], "decompression bomb"),
    ([{"b64": b64(image_bytes())}], 'expected {"image": {"b64"'),
    ([{"image": b64(image_bytes())}], 'expected {"image": {"b64"'),
    ([{"image": {"b64": b64(image_bytes()), "format": "png"}}], "['b64', 'format']"),
    ([b64(image_bytes())], "got str"),
    ([instance(image_bytes())] * 9, "too many instances: 9"),
    ([], "at least one"),
])
def test_bad_images_get_400_and_the_server_keeps_serving(client, body, fragment):
    assert_rejected(v1(client, "small", body), fragment)
    assert v1(client, "small", [instance(image_bytes())]).status_code == 200


@pytest.mark.parametrize(("inputs", "fragment"), [
    ({"image": [1]}, "expected a string element"),
    ({"image": ["@@@"]}, "not valid base64"),
    ({"image": [b64(b"GIF89a broken")]}, "image"),
    ({"text": [b64(image_bytes())]}, "unknown input tensor 'text'"),
])
def test_bad_v2_requests_get_400(client, inputs, fragment):
    assert_rejected(v2(client, "small", inputs), fragment)
    assert v2(client, "small", {"image": [b64(image_bytes())]}).status_code == 200


def test_a_request_is_refused_whole_when_one_image_is_bad(client):
    response = v1(client, "small", [instance(image_bytes()), instance(b"junk")])
    assert_rejected(response, "instances[1]", "not an image")


def test_base64_with_line_breaks_is_accepted(client):
    text = b64(image_bytes())
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    assert v1(client, "small", [{"image": {"b64": wrapped}}]).status_code == 200


@pytest.mark.slow  # imports the BLIP stack
# --------------------------------------------------------------------------- CLI
def test_load_errors_are_clear(tmp_path):
    with pytest.raises(ModelDirError, match="cannot load a BLIP captioning model"):
        caption.CaptionModel("c", str(tmp_path / "missing"), device="cpu").load()


@pytest.mark.slow  # imports the BLIP stack
def test_main_refuses_to_start_without_a_model(tmp_path, caplog):
    assert caption.main(["--model_dir", str(tmp_path / "missing")]) == 2
    assert "cannot start the caption server" in caplog.text
    with pytest.raises(SystemExit):
        caption.main([])  # --model_dir is required


def test_parser_defaults():
    args = caption.build_parser().parse_args(["--model_dir", "m"])
    assert (args.http_port, args.model_name, args.bind_address) == (8004, "caption", "127.0.0.1")
    # docs/serving.md's limits table: 8 images, 10 MiB per image, 25 000 000 pixels, 64 MiB body
    assert (args.max_instances, args.max_image_bytes, args.max_image_pixels) == (
        8, 10 * 1024 * 1024, 25_000_000)
    assert args.max_body_bytes == 64 * 1024 * 1024
    assert not hasattr(args, "max_text_chars")
