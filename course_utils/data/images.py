"""One image file as the RGB picture it shows: the loader behind every image folder (lesson 07).

torchvision's default loader calls ``img.convert("RGB")``, which is right for 8-bit pictures
but not for every mode PIL opens: 16-bit greyscale is clipped to white, floating-point pixels
to black, and transparent pixels show whatever colour happens to lie under them. Here:

* 8-bit modes (``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``) go through
  PIL's own conversion, as in torchvision;
* 16-bit greyscale (``I;16`` and its byte orders, and a PNG that PIL opens as ``I``) is scaled
  to 8 bits (value / 257), so 65535 is white and the picture keeps its contrast;
* anything with transparency (``RGBA``, ``LA``, ``PA``, a palette or colour with a transparent
  entry) is laid over a white background, as a page or an image viewer shows it (white is
  our choice; the pictures the course exports have no transparency);
* the EXIF orientation of a phone's photo is applied, as a photo viewer does;
* other modes (``F``: 32-bit floats, ``I`` outside PNG: 32-bit integers, whose range the file
  does not say) are refused with a ``DataFileError`` naming the file.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

from .formats import DataFileError

EIGHT_BIT = ("1", "L", "P", "RGB", "CMYK", "YCbCr", "LAB", "HSV")  # PIL converts these to RGB
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
WITH_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")
BACKGROUND = (255, 255, 255)  # what shows through a transparent pixel


def mode_problem(img: Image.Image) -> str | None:
    """Why ``img``'s pixel mode cannot be shown as RGB faithfully, or None when it can."""
    mode = img.mode
    if mode in EIGHT_BIT or mode in SIXTEEN_BIT or mode in WITH_ALPHA:
        return None
    if mode == "I" and img.format == "PNG":  # a 16-bit greyscale PNG (older Pillow opens it as I)
        return None
    kind = {"F": "32-bit floating-point", "I": "32-bit integer"}.get(mode, "an unusual")
    return (
        f"its pixels are {kind} values (PIL mode {mode!r}), whose range the file does not state, "
        "so they cannot be turned into colours faithfully: save it as an 8- or 16-bit PNG or a JPEG"
    )


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in WITH_ALPHA or "transparency" in img.info


def to_rgb(img: Image.Image, *, name: str | os.PathLike = "image") -> Image.Image:
    """``img`` as the 8-bit RGB picture it shows; ``DataFileError`` naming ``name`` for a mode
    that cannot be shown faithfully (see the module's docstring)."""
    problem = mode_problem(img)
    if problem is not None:
        raise DataFileError(f"{name}: {problem}")
    sixteen = img.mode in SIXTEEN_BIT or img.mode == "I"  # mode_problem allowed I only for PNG
    img = ImageOps.exif_transpose(img) or img  # a copy, turned as the EXIF orientation says
    if sixteen:
        grey = np.asarray(img).astype(np.float64) / 257.0  # 0..65535 -> 0..255
        return Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8)).convert("RGB")
    if _has_alpha(img):
        background = Image.new("RGBA", img.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """The image file at ``path`` as an RGB picture: the ``loader`` of ``data.image_folder``."""
    with Image.open(path) as img:
        img.load()
        return to_rgb(img, name=path)
