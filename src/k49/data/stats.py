"""Image statistics that say how K49-like a set of images is (see k49-facts.md)."""

from __future__ import annotations

import numpy as np

#: Measured on the 100 real K49 test images in ../shared/reference/k49-real-sample.npz.
K49_REFERENCE = {
    "mean_pixel": 46.5,
    "frac_above_128": 0.182,
    "frac_above_0": 0.313,
    "ink_height": 26.3,
    "ink_width": 21.7,
}


def ink_boxes(images: np.ndarray, threshold: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Height and width of each image's ink bounding box (pixels > threshold); 0 for blank."""
    ink = images > threshold
    rows, cols = ink.any(axis=2), ink.any(axis=1)

    def extent(mask: np.ndarray) -> np.ndarray:
        size = mask.shape[1]
        first = mask.argmax(axis=1)
        last = size - 1 - mask[:, ::-1].argmax(axis=1)
        return np.where(mask.any(axis=1), last - first + 1, 0)

    return extent(rows), extent(cols)


def image_stats(images: np.ndarray) -> dict[str, float]:
    """Mean pixel, share of pixels above 128 and above 0, and mean ink box height and width."""
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 with shape (N, H, W), got {images.dtype} {images.shape}"
        )
    heights, widths = ink_boxes(images)
    return {
        "mean_pixel": float(images.mean()),
        "frac_above_128": float((images > 128).mean()),
        "frac_above_0": float((images > 0).mean()),
        "ink_height": float(heights.mean()),
        "ink_width": float(widths.mean()),
    }
