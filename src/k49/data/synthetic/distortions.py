"""Batched torch distortions that turn templates into K49-like 28x28 images.

Every sample is one hand's template (difficulty.py) through this pipeline, a whole batch at a
time:

0. each stroke group moved, turned and weighted on its own (one resampling);
1. a random affine transform (rotation, shear, anisotropic scale, translation) and an elastic
   distortion (a smooth random displacement field), in one ``grid_sample``;
2. K49's framing: the ink's bounding box centred, its longer side filling the frame (at 56x56),
   and the ends of the neighbouring characters above and below entering the crop;
3. stroke-width change like a brush's: an occasional 3x3 dilation, then a blur and a soft
   threshold that varies smoothly across the character; ink intensity varies the same way;
   broken ink and bleed-through from the other side of the page;
4. area-averaging to 28x28, a light blur and ink noise: white ink on black, uint8.

Everything works on whole batches with elementwise and shifted-slice ops, small matrix products
and two grid_samples: for single-channel images this small, torch's CPU max_pool2d, conv2d and
interpolate are several times slower, and thread hand-offs inside one batch cost more than they
save. A batch's random numbers are drawn first, in order, by ``draw_samples``; ``render_batch``
then turns them into images without drawing any, so whole batches can render on several
threads at once (pipeline.renderers) and a seed still gives the same images.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from k49.data.synthetic.difficulty import (
    AFFINE_DRAWS,
    DIFFICULTY,
    Difficulty,
    Hands,
)


@dataclass(frozen=True)
class Distortion:
    """Strength of every random transform of one sample; the defaults are tuned to K49's
    statistics. A hand (Difficulty) draws the affine and warp once more, hand_strength times."""

    rotation_deg: float = 9.0  # standard deviation
    shear: float = 0.18  # standard deviation of the x-shear factor
    scale_log_sd: float = 0.08  # overall size (removed again by the framing)
    aspect_log_mean: float = -0.20  # log(width / height) factor: brush characters are tall
    aspect_log_sd: float = 0.22
    translate: float = 0.05  # standard deviation, in units of half the frame
    elastic: float = 0.06  # displacement standard deviation, in units of half the frame
    elastic_grid: int = 5  # control points per side of the smooth random fields
    dilate_prob: float = 0.15  # chance of a 3x3 dilation (at 56 px) before thresholding
    threshold: tuple[float, float] = (0.4, 0.7)  # range of the soft threshold: stroke width
    threshold_field: float = 0.06  # how much the threshold varies across the character
    ramp: float = 6.0  # steepness of the soft threshold
    intensity: tuple[float, float] = (0.9, 1.4)  # ink intensity range (clipped at 1 later)
    intensity_field: float = 0.2
    blur: tuple[float, float] = (0.0, 0.3)  # weight of a final 3x3 blur
    noise: float = 0.06  # multiplicative ink noise standard deviation
    floor: float = 12.0  # subtracted from 0..255 values: faint specks become background


DISTORTION = Distortion()

OUT = 28  # K49's image side
BREAK_GRID = 9  # control points per side of the field that breaks the ink
FRAME = 2 * OUT  # the framed character is drawn at twice that, then area-averaged


@functools.lru_cache(maxsize=8)
def _basis(size: int, n: int):
    """(size, n) smooth interpolation matrix with unit-norm rows: U @ f @ U.T turns (n, n)
    standard-normal control values into a smooth (size, size) field of unit variance."""
    pos = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    centres = torch.linspace(-0.15, 1.15, n, dtype=torch.float64)
    width = (centres[1] - centres[0]).item()
    u = torch.exp(-((pos[:, None] - centres[None, :]) ** 2) / (2 * width**2))
    return (u / u.norm(dim=1, keepdim=True)).float()


@functools.lru_cache(maxsize=8)
def _upsample(size: int, n: int):
    """(size, n) matrix of bilinear upsampling (align_corners=False, edges clamped): U @ f @ U.T
    resizes (n, n) maps to (size, size) as interpolate would, as two small matrix products."""
    pos = ((torch.arange(size, dtype=torch.float64) + 0.5) * n / size - 0.5).clamp(0, n - 1)
    low = pos.floor().long().clamp(max=n - 2) if n > 1 else torch.zeros(size, dtype=torch.long)
    frac = pos - low
    u = torch.zeros(size, n, dtype=torch.float64)
    u[torch.arange(size), low] = 1 - frac
    if n > 1:
        u[torch.arange(size), low + 1] += frac
    return u.float()


def _coords(size: int):
    """Pixel-centre coordinates in [-1, 1] (grid_sample's align_corners=False convention)."""
    return (2 * torch.arange(size, dtype=torch.float32) + 1) / size - 1


def _affine_into(out, a, b_, c, d, e, f):
    """Add the per-sample affine map (x, y) = (a*u + b*v + c, d*u + e*v + f) over output pixel
    centres (u, v) to `out` (B, 2, S, S), in place."""
    s = out.shape[-1]
    t = _coords(s)
    u, v = t.view(1, 1, -1), t.view(1, -1, 1)
    col = lambda z: z.view(-1, 1, 1)  # noqa: E731
    out[:, 0].add_(col(a) * u).add_(col(b_) * v + col(c))
    out[:, 1].add_(col(d) * u).add_(col(e) * v + col(f))
    return out


def _dilate(x):
    """3x3 max filter of (B, 1, H, W) from shifted slices (zero outside)."""
    h = x.clone()
    torch.maximum(h[..., 1:], x[..., :-1], out=h[..., 1:])
    torch.maximum(h[..., :-1], x[..., 1:], out=h[..., :-1])
    y = h.clone()
    torch.maximum(y[..., 1:, :], h[..., :-1, :], out=y[..., 1:, :])
    torch.maximum(y[..., :-1, :], h[..., 1:, :], out=y[..., :-1, :])
    return y


def _smooth(x):
    """Separable binomial [1, 2, 1] / 4 blur (sigma about 0.7 px), zero outside."""
    y = x * 0.5
    y[..., 1:].add_(x[..., :-1], alpha=0.25)
    y[..., :-1].add_(x[..., 1:], alpha=0.25)
    z = y * 0.5
    z[..., 1:, :].add_(y[..., :-1, :], alpha=0.25)
    z[..., :-1, :].add_(y[..., 1:, :], alpha=0.25)
    return z


def _uniform(g, n: int, lo: float, hi: float):

    return (lo + (hi - lo) * torch.rand(n, generator=g)).view(n, 1, 1, 1)


def _extent(profile, threshold: float):
    """First and last index where each row of `profile` (B, S) exceeds `threshold`."""
    mask = profile > threshold
    s = mask.shape[1]
    m = mask.to(torch.uint8)
    first = m.argmax(1)
    last = s - 1 - m.flip(1).argmax(1)
    empty = ~mask.any(1)
    first = torch.where(empty, torch.zeros_like(first), first)
    last = torch.where(empty, torch.full_like(last, s - 1), last)
    return first.float(), last.float()


def _frame(x, threshold: float = 0.3):
    """Resample each image to FRAME x FRAME around its ink's bounding box: centred, the longer
    side filling the frame (K49's framing)."""
    b, s = x.shape[0], x.shape[-1]
    r0, r1 = _extent(x[:, 0].amax(2), threshold)
    c0, c1 = _extent(x[:, 0].amax(1), threshold)
    cy, cx = (r0 + r1 + 1) / s - 1, (c0 + c1 + 1) / s - 1
    k = torch.maximum(r1 - r0 + 1, c1 - c0 + 1) / s
    zero = torch.zeros_like(k)
    grid = _affine_into(torch.zeros(b, 2, FRAME, FRAME), k, zero, cx, zero, k, cy)
    return F.grid_sample(
        x, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros", align_corners=False
    )


def _stroke_grid(parts, centres, draws, k: Difficulty, size: int):
    """Sampling grid (B, size, size, 2) and ink weight (B, 1, size, size) that move, turn and
    weight each stroke group on its own. Output point p samples sum_j m_j(p) q_j(p), with q_j
    the inverse of group j's turn about its centre c_j and shift s_j, blended by the smooth
    memberships m_j (B, parts, r, r) so that strokes bend where groups meet instead of tearing.
    The blend is made at the maps' resolution r and upsampled: it is smooth."""
    shift = draws[..., :2] * k.stroke_shift
    turn = draws[..., 2] * math.radians(k.stroke_turn_deg)
    weight = torch.exp(draws[..., 3] * k.stroke_weight).clamp_(0.4, 2.0)
    cos, sin = torch.cos(turn), torch.sin(turn)
    # q_j = R(-turn)(p - c - shift) + c = [[cos, sin], [-sin, cos]] p + offset
    cx, cy = centres[..., 0], centres[..., 1]
    ux, uy = cx + shift[..., 0], cy + shift[..., 1]
    off_x = cx - (cos * ux + sin * uy)
    off_y = cy - (-sin * ux + cos * uy)
    coefs = torch.stack([cos, sin, off_x, off_y, weight], 2)  # (B, parts, 5)
    blend = torch.einsum("bjhw,bjc->bchw", parts, coefs)
    up = _upsample(size, blend.shape[-1])
    blend = up @ blend @ up.T
    t = _coords(size)
    px, py = t.view(1, 1, -1), t.view(1, -1, 1)
    c, sn = blend[:, 0], blend[:, 1]
    grid = torch.empty(blend.shape[0], 2, size, size)
    torch.mul(c, px, out=grid[:, 0]).addcmul_(sn, py).add_(blend[:, 2])
    torch.mul(c, py, out=grid[:, 1]).addcmul_(sn, px, value=-1).add_(blend[:, 3])
    return grid.permute(0, 2, 3, 1), blend[:, 4:]


def stroke_templates(templates, index, draws, k: Difficulty):
    """templates.images[index] (B, 1, S, S) with each stroke group moved, turned and weighted
    by its `draws` (B, parts, PART_DRAWS) standard normals scaled by `k`'s stroke fields."""
    x = templates.images[index]
    if not (k.stroke_shift or k.stroke_turn_deg or k.stroke_weight):
        return x
    grid, weight = _stroke_grid(templates.parts[index], templates.part_centres[index], draws, k,
                                x.shape[-1])
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False).mul_(weight)


def _add_neighbour(x, other, depth, top: bool):
    """Into `x` (B, 1, S, S), in place: the last `depth` (B,) rows of each image of `other` at
    the top of the frame (top=True), or its first rows at the bottom: the end of the
    neighbouring character in a vertical line of text, cut by the crop. Depth 0 adds nothing."""
    b, _, s, _ = x.shape
    reach = int(depth.max())
    if reach <= 0:
        return x
    rows = torch.arange(reach).view(1, reach)
    d = depth.view(b, 1)
    source = rows + (s - d) if top else rows - reach + d
    valid = ((source >= 0) & (source < s)).view(b, 1, reach, 1)
    index = source.clamp(0, s - 1).view(b, 1, reach, 1).expand(b, 1, reach, s)
    band = x[:, :, :reach] if top else x[:, :, s - reach :]
    torch.maximum(band, other.gather(2, index) * valid, out=band)
    return x


def _warp(x, hands: Hands, hand_index, draws: SampleDraws, d: Distortion, k: Difficulty):
    """Affine + elastic in one resampling of templates `x`: the hand's draws (scaled by
    hand_strength) plus the sample's own. The grid maps output to input coordinates, so it is
    the inverse of the forward transform rotation @ shear @ scale (+ translation)."""
    s = x.shape[-1]
    hand_scale = k.hand_strength if k.hands else 0.0
    a = draws.affine.mul(k.sample_strength).add_(hands.affine[hand_index], alpha=hand_scale)
    angle = a[:, 0] * math.radians(d.rotation_deg)
    shear = a[:, 1] * d.shear
    size = torch.exp(a[:, 2] * d.scale_log_sd)
    aspect = torch.exp(d.aspect_log_mean + a[:, 3] * d.aspect_log_sd)
    tx, ty = a[:, 4] * d.translate, a[:, 5] * d.translate
    sx, sy = size * aspect.sqrt(), size / aspect.sqrt()
    cos, sin = torch.cos(angle), torch.sin(angle)
    # forward [[p, q], [r, t]] = [[cos, -sin], [sin, cos]] @ [[1, shear], [0, 1]] @ diag(sx, sy)
    p, q = cos * sx, (cos * shear - sin) * sy
    r, t = sin * sx, (sin * shear + cos) * sy
    det = p * t - q * r
    ia, ib, ic, id_ = t / det, -q / det, -r / det, p / det
    basis = _basis(s, d.elastic_grid)
    warp = draws.warp.mul(k.sample_strength).add_(hands.warp[hand_index], alpha=hand_scale)
    warp = warp.mul_(d.elastic)
    grid = basis @ warp @ basis.T
    _affine_into(grid, ia, ib, -(ia * tx + ib * ty), ic, id_, -(ic * tx + id_ * ty))
    return F.grid_sample(
        x, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros", align_corners=False
    )


@dataclass(frozen=True)
class SampleDraws:
    """Every random number a batch of samples draws, drawn by `draw_samples` from one generator
    in a fixed order (cheap, and in sequence, so a seed gives the same images) and then turned
    into images by `render_batch` (the work, which can run on any thread). Rows are samples;
    the fields of a mechanism that is off are None."""

    affine: torch.Tensor  # (B, AFFINE_DRAWS) normals: the sample's own affine map
    warp: torch.Tensor  # (B, 2, n, n) normals: its own elastic warp
    neighbours: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None  # (on, depth) top, bottom
    dilate: torch.Tensor  # (B, 1, 1, 1) 1.0 where the strokes are dilated
    fields: torch.Tensor  # (B, 2, n, n) normals: the threshold and ink-intensity fields
    threshold: torch.Tensor  # (B, 1, 1, 1) within Distortion.threshold
    intensity: torch.Tensor  # (B, 1, 1, 1) within Distortion.intensity
    breaks: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None  # field normals, area, on
    bleed: torch.Tensor | None  # (B, 1, 1, 1) bleed-through intensity, 0 where there is none
    blur: torch.Tensor  # (B, 1, 1, 1) weight of the final blur
    noise: torch.Tensor  # (B, 1, OUT, OUT) normals: ink noise


def draw_samples(b: int, g, d: Distortion = DISTORTION,
                 k: Difficulty = DIFFICULTY) -> SampleDraws:
    """The random numbers of `b` samples, from generator `g` (the order is part of the format:
    changing it changes every image a seed gives)."""
    affine = torch.randn(b, AFFINE_DRAWS, generator=g)
    warp = torch.randn(b, 2, d.elastic_grid, d.elastic_grid, generator=g)
    neighbours = None
    if k.neighbours:
        lo, hi = k.neighbour_depth
        neighbours = tuple(
            (torch.rand(b, generator=g) < k.neighbours,
             (FRAME * (lo + (hi - lo) * torch.rand(b, generator=g))).round().long())
            for _side in ("top", "bottom")
        )
    dilate = (torch.rand(b, 1, 1, 1, generator=g) < d.dilate_prob).float()
    fields = torch.randn(b, 2, d.elastic_grid, d.elastic_grid, generator=g)
    threshold = _uniform(g, b, *d.threshold)
    intensity = _uniform(g, b, *d.intensity)
    breaks = None
    if k.broken_ink:
        breaks = (torch.randn(b, 1, BREAK_GRID, BREAK_GRID, generator=g),
                  _uniform(g, b, 0.0, k.broken_area),
                  (torch.rand(b, 1, 1, 1, generator=g) < k.broken_ink).float())
    bleed = None
    if k.bleed_through:
        on = (torch.rand(b, 1, 1, 1, generator=g) < k.bleed_through).float()
        bleed = on * _uniform(g, b, *k.bleed_intensity)
    blur = _uniform(g, b, *d.blur)
    noise = torch.randn(b, 1, OUT, OUT, generator=g)
    return SampleDraws(affine, warp, neighbours, dilate, fields, threshold, intensity, breaks,
                       bleed, blur, noise)


def render_batch(hands: Hands, hand_index, draws: SampleDraws, d: Distortion = DISTORTION,
                 k: Difficulty = DIFFICULTY):
    """One sample of each of `hands`' rows `hand_index` (B,) as (B, 28, 28) uint8 images, made
    with `draws` (draw_samples; no random numbers are drawn here)."""

    # 0. the hand's template, its stroke groups moved, turned and weighted its own way.
    x = hands.images[hand_index]

    # 1. affine + elastic in one resampling.
    x = _warp(x, hands, hand_index, draws, d, k)

    # 2. K49's framing: centre the ink's bounding box, its longer side filling the frame.
    x = _frame(x)

    # 2b. the ends of the neighbouring characters above and below, cut by the crop.
    if draws.neighbours is not None:
        for shift, top, (on, depth) in zip((1, 2), (True, False), draws.neighbours, strict=True):
            x = _add_neighbour(x, x.roll(shift, 0), depth * on, top)

    # 3. stroke width in output pixels, like a brush: optional dilation, then a light blur and a
    #    soft threshold that varies smoothly across the character; ink intensity likewise.
    x = torch.lerp(x, _dilate(x), draws.dilate)
    x = _smooth(x)
    basis = _basis(FRAME, d.elastic_grid)
    fields = basis @ draws.fields @ basis.T
    thr = fields[:, :1].mul_(d.threshold_field).add_(draws.threshold).clamp_(min=0.05)
    x = x.sub_(thr).mul_(d.ramp).clamp_(0, 1)
    ink = fields[:, 1:].mul_(d.intensity_field).add_(1).mul_(draws.intensity)
    x = x.mul_(ink)

    # 3b. broken ink: faded patches (a finer smooth field above a level) cut the strokes.
    if draws.breaks is not None:
        normals, area, on = draws.breaks
        fine = _basis(FRAME, BREAK_GRID)
        field = fine @ normals @ fine.T
        level = torch.special.ndtri(1 - area.clamp(min=1e-4))
        x = x.mul_(1 - on * field.sub_(level).mul_(3).clamp_(0, 1))

    # 3c. bleed-through: another character, mirrored and faint, from the other side.
    if draws.bleed is not None:
        x = torch.maximum(x, x.roll(3, 0).flip(-1) * draws.bleed)

    # 4. area-average to 28 x 28, a light blur, ink noise, white on black uint8.
    x = F.avg_pool2d(x, FRAME // OUT)
    x = torch.lerp(x, _smooth(x), draws.blur)
    x = x.mul_(draws.noise.mul(d.noise).add_(1))
    x = x.mul_(255.0).sub_(d.floor).clamp_(0, 255).round_()
    return x[:, 0].to(torch.uint8)
