"""What makes the synthetic set as hard as K49: one named mechanism per field of `Difficulty`.

K49 is hard because its characters were written by many hands, in variant forms that look
nothing alike, cut from vertical lines of text on old paper. Each field below adds one of those
properties; 0 turns it off, and `benchmarks/bench_difficulty.py --ablation`
measures what each adds. Flipping labels is never one of them.

Hands: every class is written by `hands` writers (a rarer class by fewer, with
`hands_by_size`). A hand is drawn once per set seed (shared by the train and test splits, as
K49's books are): a template (a variant form, with `variant_share` of a class's hands on its
hentaigana), its own slant, proportions and smooth warp (`hand_strength`), and its own way of
placing, turning and weighting each stroke group (`stroke_*`). Hand 0 of a class is its house
hand (`house_*`): the way the character was usually written, in its modern form, writing most
of the class's samples, and those samples written in every font's glyph of it (`house_fonts`:
the usual form is every book's, so a model learns the character, not one glyph); the other
hands are the many unusual writers. Each sample of a hand
then varies around it: the sample's own draw of the same affine map and warp
(`sample_strength`). With hands off, every sample is its own hand.
Page effects act per sample: a neighbouring character's end entering the crop,
broken strokes and bleed-through from the other side of the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

#: Random normals a hand or sample draws: 6 for its affine map (rotation, shear, size, aspect,
#: x and y translation) and 4 per stroke group (x and y shift, turn, log weight).
AFFINE_DRAWS, PART_DRAWS = 6, 4


@dataclass(frozen=True)
class Difficulty:
    """The mechanisms that make the set K49-hard (see the module doc). The defaults (generator
    version 5) were calibrated against the published real-K49 figures, and checked by the
    generalisation measure (synthetic/transfer.py), with benchmarks/bench_difficulty.py;
    docs/synthetic.md has the calibration and its limits."""

    #: Share of a class's hands writing one of its hentaigana (variant forms from other source
    #: kanji) rather than the modern glyph, for classes that have both.
    variant_share: float = 1.0
    #: Writers per class; 0: no hands, every sample draws its own template and strokes.
    hands: int = 128
    #: How far hands differ from each other, and one hand's samples from each other: the
    #: hand's and the sample's affine and warp draws, as multiples of Distortion's standard
    #: deviations (hands off: a sample draws only its own).
    hand_strength: float = 1.5
    sample_strength: float = 0.8
    #: How unevenly a class's samples fall to its hands, as books of very different lengths:
    #: hand h writes a share proportional to (h + 1) ** -hand_skew; 0: every hand alike.
    hand_skew: float = 0.0
    #: How a class's number of hands follows its size: a class writes with
    #: round(hands * (n / n_largest) ** hands_by_size) of its hands (at least 1), n being its
    #: number of test images in K49 (1000 for the 31 largest classes). 0: every class has
    #: `hands`; 1: every hand writes about as many samples in a rare class as in a common one
    #: (a rare character has fewer ways of being written).
    hands_by_size: float = 1.5
    #: Share of a class's samples written in its house style, by hand 0 (the way a character
    #: was usually written: most pages of most books), the rest falling to the other hands;
    #: 0: no house hand. `house_strength` is how far the house hand is from its template, as
    #: a share of an ordinary hand's distance (0: the template as the font draws it).
    house_share: float = 0.75
    house_strength: float = 0.0
    #: Share of the house style in a class's variant forms (its hentaigana) rather than its
    #: usual modern form, for classes that have both: of the house hand's template, and of
    #: the templates its samples in every font draw (version 4: as variant_share, 0.8).
    house_variant_share: float = 0.0
    #: Share of the house style's samples written as one of the fonts draws the class, each
    #: such sample drawing one of the class's templates (by `house_variant_share`) evenly:
    #: the forms many books share, in many scribes' letters; the rest by the house hand
    #: alone. 0: all of them by the house hand, one template per class (version 4).
    house_fonts: float = 1.0
    #: Each stroke group's own shift (standard deviation, in half-frame units), turn (degrees)
    #: and ink weight (log standard deviation: thinner or thicker), per hand.
    stroke_shift: float = 0.06
    stroke_turn_deg: float = 10.0
    stroke_weight: float = 0.3
    #: Chance, per side (top and bottom), that the end of the neighbouring character in the
    #: vertical line enters the crop, and how far in (share of the frame, uniform range).
    neighbours: float = 0.5
    neighbour_depth: tuple[float, float] = (0.05, 0.25)
    #: Chance that a sample's ink is broken (faded patches that cut strokes), and the largest
    #: share of its area a break may take.
    broken_ink: float = 0.5
    broken_area: float = 0.15
    #: Chance of bleed-through: the mirror image of another character, faint, from the other
    #: side of the page; and its intensity range.
    bleed_through: float = 0.3
    bleed_intensity: tuple[float, float] = (0.08, 0.25)
    #: Share of the test split written by hands the training split never saw (new writers at
    #: test time); 0: both splits share every hand. Not yet calibrated, so off by default.
    new_test_hands: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def house_in_fonts(self) -> bool:
        """Whether some house-style samples are written in the fonts' templates (the rows
        Hands.with_templates appends)."""
        return bool(self.house_share and self.house_fonts)

    def without(self, mechanism: str) -> Difficulty:
        """This difficulty with one mechanism (see MECHANISMS) turned off."""
        try:
            change = MECHANISMS[mechanism]
        except KeyError:
            raise ValueError(f"mechanism must be one of {', '.join(MECHANISMS)}, "
                             f"got {mechanism!r}") from None
        return Difficulty(**{**asdict(self), **change})


#: The mechanisms an ablation turns off one at a time: name -> the fields that turn it off.
MECHANISMS: dict[str, dict[str, Any]] = {
    "variant forms": {"variant_share": 0.0},
    "many hands": {"hands": 0},
    "hands by class size": {"hands_by_size": 0.0},
    "house style": {"house_share": 0.0},
    "house style in every font": {"house_fonts": 0.0},
    "stroke-level variation": {"stroke_shift": 0.0, "stroke_turn_deg": 0.0,
                               "stroke_weight": 0.0},
    "neighbouring characters": {"neighbours": 0.0},
    "broken ink": {"broken_ink": 0.0},
    "bleed-through": {"bleed_through": 0.0},
}

#: No mechanism: the generator before calibration (version 1), for comparisons.
EASY = Difficulty(**{k: v for change in MECHANISMS.values() for k, v in change.items()})
DIFFICULTY = Difficulty()


def check_difficulty(difficulty: Difficulty) -> Difficulty:
    """`difficulty` if every field is in range, else ValueError naming the field."""
    for f in fields(difficulty):
        value = getattr(difficulty, f.name)
        values = value if isinstance(value, tuple) else (value,)
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)
               or v < 0 for v in values):
            raise ValueError(f"Difficulty.{f.name} must be a non-negative number, got {value!r}")
        if isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
            raise ValueError(f"Difficulty.{f.name} must be a (low, high) range, got {value!r}")
    for name in ("variant_share", "neighbours", "broken_ink", "bleed_through", "broken_area",
                 "new_test_hands", "house_share", "house_fonts", "house_variant_share"):
        if getattr(difficulty, name) > 1:
            raise ValueError(f"Difficulty.{name} is a share, at most 1, got "
                             f"{getattr(difficulty, name)!r}")
    if not isinstance(difficulty.hands, int):
        raise ValueError(f"Difficulty.hands must be a whole number, got {difficulty.hands!r}")
    return difficulty


def difficulty_from_record(record: dict[str, Any] | None) -> Difficulty:
    """The Difficulty a synthetic.json recorded; the default when there is none or it is not a
    valid one (then the set is rebuilt as the default makes it)."""
    if not isinstance(record, dict):
        return DIFFICULTY
    try:
        # A field added after a set was made reads as its default (what made that set).
        values = {f.name: record.get(f.name, f.default) for f in fields(Difficulty)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return check_difficulty(Difficulty(**values))
    except (KeyError, TypeError, ValueError):
        return DIFFICULTY


@dataclass
class Hands:
    """Writers: per hand its template's index `template` (N,), that template with its stroke
    groups placed its own way, `images` (N, 1, S, S), and its affine draws (N, AFFINE_DRAWS)
    and warp draws (N, 2, n, n), standard normals that the distortions scale. A set's hand h
    of class c is row c * Difficulty.hands + h."""

    template: torch.Tensor
    images: torch.Tensor
    affine: torch.Tensor
    warp: torch.Tensor

    def with_templates(self, templates) -> Hands:
        """These hands followed by one plain hand per template (its template as the font draws
        it, no hand draws): row len(self.template) + t writes template t."""
        n = len(templates.images)
        return Hands(template=torch.cat([self.template, torch.arange(n)]),
                     images=torch.cat([self.images, templates.images]),
                     affine=torch.cat([self.affine, self.affine.new_zeros(n, AFFINE_DRAWS)]),
                     warp=torch.cat([self.warp, self.warp.new_zeros(n, *self.warp.shape[1:])]))


def draw_hands(templates, rows: torch.Tensor, difficulty: Difficulty, warp_grid: int,
               g: torch.Generator, strength: torch.Tensor | None = None,
               map_chunks: Callable = map) -> Hands:
    """One hand per row of `rows` (N, T), template probabilities (a class's row of
    TemplateSet.class_weights): its template, stroke groups and normals, all from `g`, the
    normals of row i scaled by `strength[i]` when given (a house hand's are smaller). Its
    template images are drawn in chunks through `map_chunks` (a thread pool's map, say)."""
    from k49.data.synthetic.distortions import stroke_templates  # distortions imports this

    n = rows.shape[0]
    template = torch.multinomial(rows, 1, generator=g)[:, 0]
    affine = torch.randn(n, AFFINE_DRAWS, generator=g)
    warp = torch.randn(n, 2, warp_grid, warp_grid, generator=g)
    strokes = torch.randn(n, templates.parts.shape[1], PART_DRAWS, generator=g)
    if strength is not None:
        for normals in (affine, warp, strokes):
            normals.mul_(strength.view(-1, *[1] * (normals.dim() - 1)))
    def chunk(i: int) -> torch.Tensor:
        return stroke_templates(templates, template[i : i + 256], strokes[i : i + 256],
                                difficulty)

    images = torch.cat(list(map_chunks(chunk, range(0, n, 256))))
    return Hands(template=template, images=images, affine=affine, warp=warp)
