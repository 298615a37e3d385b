"""Caption InferenceService: BLIP image captioning (BlipProcessor + BlipForConditionalGeneration).

    python -m serving.caption --model_dir Salesforce/blip-image-captioning-base   # or a directory

Input (v1): `{"instances": [{"image": {"b64": "<base64 image>"}}, ...]}`; output
`{"predictions": [{"caption": "..."}]}`. v2: BYTES input `image` [N] of base64 strings, BYTES
output `caption` [N]. Images are checked before the model sees them: base64, size in bytes,
accepted formats, width x height (decompression bombs) and truncation all give 400.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import logging
import re
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest

from components.core.errors import ModelDirError
from serving import common

log = logging.getLogger("serving.caption")  # not "__main__" under python -m

SERVER = "caption"
MAX_IMAGE_BYTES = 10 * 1024 * 1024  # encoded image file, after base64 decoding
MAX_IMAGE_PIXELS = 25_000_000  # width x height, checked from the header before decoding
MAX_INSTANCES = 8  # images per request
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_NEW_TOKENS = 30
# Formats Pillow may open: the common raster formats only (no EPS/PDF, which call out to
# Ghostscript, no exotic plugins).
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")
_DATA_URL_RE = re.compile(r"^data:image/[\w.+-]+;base64,", re.IGNORECASE)
_WHITESPACE_RE = re.compile(r"\s+")


@dataclasses.dataclass(frozen=True)
class EncodedImage:
    """An image file's bytes and where it came from in the request (for error messages)."""

    where: str
    data: bytes


@dataclasses.dataclass(frozen=True)
class ImageLimits:
    """Limits on one image.

    Attributes:
        max_bytes: size of the image file (decoded from base64).
        max_pixels: width x height.
    """

    max_bytes: int = MAX_IMAGE_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS


# --------------------------------------------------------------------------- image checks
def _max_base64_chars(max_bytes: int) -> int:
    # base64 of max_bytes, plus 2% for line breaks and room for a data-URL prefix
    return 4 * -(-max_bytes // 3) * 51 // 50 + 256


def decode_base64_image(text: Any, where: str, limits: ImageLimits) -> bytes:
    """The bytes of a base64 image string (a `data:image/...;base64,` prefix is allowed).

    Raises:
        InvalidInput: not a string, not base64, empty, or over `limits.max_bytes`.
    """
    if isinstance(text, bytes):  # v2 binary tensors carry bytes
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidInput(f"{where}: expected base64 text, got binary data") from None
    if not isinstance(text, str):
        raise InvalidInput(f"{where}: expected a base64 string, got {common.describe(text)}")
    if len(text) > _max_base64_chars(limits.max_bytes):  # never decode beyond the limit
        raise InvalidInput(f"{where}: image is about {len(text) * 3 // 4} bytes, this server "
                           f"accepts at most {limits.max_bytes}")
    text = _WHITESPACE_RE.sub("", _DATA_URL_RE.sub("", text.strip(), count=1))
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{where}: not valid base64 ({exc})") from exc
    if not data:
        raise InvalidInput(f"{where}: the image is empty")
    if len(data) > limits.max_bytes:
        raise InvalidInput(f"{where}: image is {len(data)} bytes, this server accepts at most "
                           f"{limits.max_bytes}")
    return data


def open_image(data: bytes, where: str, limits: ImageLimits, draft_size: int = 1024) -> Any:
    """Decode image bytes into an RGB PIL image, refusing what is unsafe or broken.

    Checks, in order: a format in IMAGE_FORMATS (header only), width x height against
    `limits.max_pixels` (before any pixel is decoded, so decompression bombs never expand),
    Pillow's own bomb limits, and a full decode (truncated or corrupt files fail here).

    Args:
        data: the image file's bytes.
        where: where it came from, for messages.
        limits: image limits.
        draft_size: JPEGs larger than this may be decoded at reduced scale (faster, the
            processor resizes to a few hundred pixels anyway).

    Returns:
        The decoded image in RGB, EXIF orientation applied.

    Raises:
        InvalidInput: not an accepted image, too many pixels, or truncated/corrupt.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
        except UnidentifiedImageError as exc:
            raise InvalidInput(f"{where}: not an image in an accepted format "
                               f"({', '.join(IMAGE_FORMATS)})") from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InvalidInput(f"{where}: refused as a decompression bomb: {exc}") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidInput(f"{where}: the image is truncated or corrupt ({exc})") from exc
        width, height = image.size
        if width < 1 or height < 1 or width * height > limits.max_pixels:
            raise InvalidInput(f"{where}: image is {width}x{height} = {width * height} pixels, "
                               f"this server accepts at most {limits.max_pixels}")
        try:
            if image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            image = ImageOps.exif_transpose(image)
            return image.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InvalidInput(f"{where}: refused as a decompression bomb: {exc}") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidInput(f"{where}: the image is truncated or corrupt ({exc})") from exc


# --------------------------------------------------------------------------- request parsing
def parse_images_v1(payload: Any, limits: common.RequestLimits,
                    image_limits: ImageLimits) -> list[EncodedImage]:
    """Image bytes of a v1 request `{"instances": [{"image": {"b64": "..."}}, ...]}`.

    Raises:
        InvalidInput: bad envelope, instance shape, or base64 / size (see decode_base64_image).
    """
    out = []
    for i, item in enumerate(common.v1_instances(payload, limits)):
        where = f"instances[{i}]"
        image = item.get("image") if isinstance(item, dict) else None
        if not isinstance(item, dict) or set(item) != {"image"} or not isinstance(image, dict) \
                or set(image) != {"b64"}:
            raise InvalidInput(f'{where}: expected {{"image": {{"b64": "<base64 image>"}}}}, '
                               f"got {_shape_of(item)}")
        where = f"{where}.image.b64"
        out.append(EncodedImage(where, decode_base64_image(image["b64"], where, image_limits)))
    return out


def _shape_of(item: Any) -> str:
    if isinstance(item, dict):
        inner = {k: (sorted(v) if isinstance(v, dict) else type(v).__name__)
                 for k, v in item.items()}
        return f"an object with {inner}"
    return common.describe(item)


def parse_images_v2(request: InferRequest, limits: common.RequestLimits,
                    image_limits: ImageLimits) -> list[EncodedImage]:
    """Image bytes of a v2 request: BYTES tensor `image` [N] of base64 strings.

    Raises:
        InvalidInput: bad tensor or base64 / size (see decode_base64_image).
    """
    tensor = common.v2_inputs(request, required=["image"])["image"]
    values = common.v2_bytes_values(tensor, limits, decode=False)
    out = []
    for i, value in enumerate(values):
        where = f"input 'image'[{i}]"
        out.append(EncodedImage(where, decode_base64_image(value, where, image_limits)))
    return out


# --------------------------------------------------------------------------- the model
class CaptionModel(common.ServingModel):
    """KServe model: base64 images in, BLIP captions out."""

    INPUTS = (common.TensorSpec("image", "BYTES"),)
    OUTPUTS = (common.TensorSpec("caption", "BYTES"),)

    def __init__(self, name: str, model_dir: str, *, limits: common.RequestLimits | None = None,
                 image_limits: ImageLimits | None = None, max_new_tokens: int = MAX_NEW_TOKENS,
                 device: str = "auto"):
        """Args:
            name: model name on the endpoints.
            model_dir: BLIP directory or hub id (Salesforce/blip-image-captioning-base).
            limits: request limits (max_instances).
            image_limits: per-image limits.
            max_new_tokens: caption length limit in tokens.
            device: "auto" (cuda when available), "cpu", "cuda"...
        """
        super().__init__(name, limits or common.RequestLimits(max_instances=MAX_INSTANCES))
        self.model_dir = model_dir
        self.image_limits = image_limits or ImageLimits()
        self.max_new_tokens = max_new_tokens
        self.device = device
        self.processor: Any = None
        self.model: Any = None
        self._lock = threading.Lock()

    def load(self) -> bool:
        """Load BlipProcessor + BlipForConditionalGeneration.

        Raises:
            ModelDirError: the processor or model cannot be loaded from `model_dir`.
        """
        import torch
        from transformers import BlipForConditionalGeneration, BlipProcessor

        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        try:
            self.processor = BlipProcessor.from_pretrained(self.model_dir)
            self.model = BlipForConditionalGeneration.from_pretrained(self.model_dir, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelDirError(
                f"cannot load a BLIP captioning model from {self.model_dir!r}: {exc}. Give a "
                "local directory with the model and its processor, or a hub id with network "
                "access (Salesforce/blip-image-captioning-base).") from exc
        self.model.to(self.device).eval()
        log.info("loaded BLIP captioner %s on %s (%s)", self.model_dir, self.device, dtype)
        self.ready = True
        return self.ready

    def parse_v1(self, payload: Any) -> list[EncodedImage]:
        return parse_images_v1(payload, self.limits, self.image_limits)

    def parse_v2(self, request: InferRequest) -> list[EncodedImage]:
        return parse_images_v2(request, self.limits, self.image_limits)

    def infer(self, items: list[EncodedImage]) -> list[str]:
        # Decoded here, in the worker thread: a large image takes a while to decode.
        images = [open_image(item.data, item.where, self.image_limits) for item in items]
        return self.caption(images)

    def caption(self, images: Sequence[Any]) -> list[str]:
        """Captions of decoded RGB images (greedy decoding)."""
        import torch

        inputs = self.processor(images=list(images), return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device, dtype=self.model.dtype)
        with self._lock, torch.inference_mode():
            out = self.model.generate(pixel_values=pixel_values,
                                      max_new_tokens=self.max_new_tokens, num_beams=1,
                                      do_sample=False)
        return [text.strip() for text in self.processor.batch_decode(out,
                                                                     skip_special_tokens=True)]

    def v1_prediction(self, result: str) -> dict[str, str]:
        return {"caption": result}

    def v2_outputs(self, results: list[str]) -> list[InferOutput]:
        return [common.bytes_output("caption", results)]


# --------------------------------------------------------------------------- CLI
def build_parser():
    """`python -m serving.caption` flags: serving.common's plus image limits and generation."""
    parser = common.build_parser(
        SERVER, "Caption model server (BLIP image captioning).",
        model_dir_help="BLIP model: local directory or hub id "
                       "(e.g. Salesforce/blip-image-captioning-base)",
        max_instances=MAX_INSTANCES, max_body_bytes=MAX_BODY_BYTES, text_limits=False)
    parser.add_argument("--max_image_bytes", type=common._positive_int, default=MAX_IMAGE_BYTES,
                        help="most bytes per image file")
    parser.add_argument("--max_image_pixels", type=common._positive_int,
                        default=MAX_IMAGE_PIXELS, help="most pixels (width x height) per image")
    parser.add_argument("--max_new_tokens", type=common._positive_int, default=MAX_NEW_TOKENS,
                        help="caption length limit in tokens")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse flags, load BLIP, serve until SIGTERM/SIGINT."""
    args = common.parse_args(build_parser(), argv)
    common.configure_logging(args.log_level)
    model = CaptionModel(args.model_name, args.model_dir, limits=common.limits_from_args(args),
                         image_limits=ImageLimits(args.max_image_bytes, args.max_image_pixels),
                         max_new_tokens=args.max_new_tokens, device=args.device)
    try:
        model.load()
    except (ModelDirError, ImportError) as exc:
        log.error("cannot start the caption server: %s", exc)
        return 2
    common.serve_from_args([model], args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
