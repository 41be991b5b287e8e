"""Keras' image file helpers: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``. Images are read and
written by Pillow, an optional extra (``pip install minidl[image]``); without it these helpers fail with one line
naming the extra."""
import numpy as np

_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def _pil(what):
    try:
        from PIL import Image  # noqa: PLC0415
    except ImportError:
        raise ImportError(f"keras.utils.{what} needs Pillow, an optional extra of minidl: pip install 'minidl[image]'"
                          " (or pip install pillow)") from None
    return Image


def _data_format(data_format, what):
    data_format = "channels_last" if data_format is None else data_format     # md.keras' layers' default too
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"keras.utils.{what}: data_format must be 'channels_last' or 'channels_first', got "
                         f"{data_format!r}")
    return data_format


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Read an image file (a path, ``pathlib.Path`` or a binary file object) into a Pillow image, converted to
    ``color_mode`` (``"grayscale"``, ``"rgb"`` or ``"rgba"``) and resized to ``target_size=(height, width)``
    with ``interpolation``; ``keep_aspect_ratio=True`` first crops the centre to the target's aspect ratio.

    Example:
        >>> img = md.keras.utils.load_img("cat.png", target_size=(32, 32))     # doctest: +SKIP
        >>> md.keras.utils.img_to_array(img).shape                             # doctest: +SKIP
        (32, 32, 3)
    """
    image_mod = _pil("load_img")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"keras.utils.load_img: invalid interpolation {interpolation!r}; supported: "
                         f"{', '.join(_INTERPOLATIONS)}")
    modes = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
    if color_mode not in modes:
        raise ValueError(f"keras.utils.load_img: color_mode must be 'grayscale', 'rgb' or 'rgba', got {color_mode!r}")
    if hasattr(path, "read"):
        img = image_mod.open(path)
    else:
        with open(str(path), "rb") as f:
            img = image_mod.open(f)
            img.load()
    if img.mode != modes[color_mode]:
        img = img.convert(modes[color_mode])
    if target_size is not None:
        height, width = (int(v) for v in target_size)
        if img.size != (width, height):
            resample = getattr(getattr(image_mod, "Resampling", image_mod), interpolation.upper())
            box = None
            if keep_aspect_ratio:       # the centred window of the target's aspect ratio, resampled from the source
                w, h = img.size
                crop_w, crop_h = min(w, h * width // height), min(h, w * height // width)
                left, top = (w - crop_w) // 2, (h - crop_h) // 2
                box = (left, top, left + crop_w, top + crop_h)
            img = img.resize((width, height), resample, box=box)
    return img


def img_to_array(img, data_format=None, dtype=None):
    """A Pillow image (or anything ``np.asarray`` reads) as a float32 array ``(height, width, channels)``
    (``channels_first``: ``(channels, height, width)``); a grayscale image gets a channel axis of 1.

    Example:
        >>> md.keras.utils.img_to_array(np.zeros((4, 5), "uint8")).shape
        (4, 5, 1)
    """
    data_format = _data_format(data_format, "img_to_array")
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if data_format == "channels_first" else x
    if x.ndim == 2:
        return x[None] if data_format == "channels_first" else x[..., None]
    raise ValueError(f"keras.utils.img_to_array: unsupported image shape {x.shape} (expected 2 or 3 axes)")


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3-D array ``(height, width, channels)`` (``channels_first``: ``(channels, height, width)``) with 1, 3 or 4
    channels as a Pillow image; ``scale=True`` maps the array's range onto 0..255 first.

    Example:
        >>> md.keras.utils.array_to_img(np.random.rand(8, 8, 3)).size
        (8, 8)
    """
    image_mod = _pil("array_to_img")
    data_format = _data_format(data_format, "array_to_img")
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"keras.utils.array_to_img: expected an image array of rank 3, got shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x = x / top
        x = x * 255
    channels = x.shape[2]
    if channels == 4:
        return image_mod.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return image_mod.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return image_mod.fromarray(x[:, :, 0].astype("int32"), "I")
        return image_mod.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"keras.utils.array_to_img: unsupported channel number {channels} (expected 1, 3 or 4)")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write the image array ``x`` to ``path`` (format from ``file_format`` or the file name), through
    ``array_to_img``; RGBA arrays saved as JPEG lose their alpha channel.

    Example:
        >>> md.keras.utils.save_img("out.png", np.random.rand(8, 8, 3))          # doctest: +SKIP
    """
    img = array_to_img(x, data_format=data_format, scale=scale)
    fmt = (file_format or str(path).rsplit(".", 1)[-1]).lower()
    if img.mode == "RGBA" and fmt in ("jpg", "jpeg"):
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)
