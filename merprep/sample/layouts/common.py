"""Pieces every layout writer shares.

- :class:`SampleContext`: the options of one ``generate`` call, the loaded photos, and keyed
  random generators (so a clip's randomness does not depend on what was generated before it).
- :class:`EmotionSpec` / :class:`Vocabulary`: a dataset's emotion words, their MEGC2019 3-class
  group, the motion family that animates them and the AU strings the dataset writes for them;
  :meth:`Vocabulary.schedule` gives each subject its balanced emotion order.
- :class:`ClipPlan`: one clip as planned (names, frame numbers, onset/apex/offset, AUs), from
  which both the annotation row and the truth record are written.
- :class:`Recording`: renders the frames of one continuous recording holding one or more planned
  expressions.
- Writers for images, videos, spreadsheets and CSV files that give byte-identical output for
  the same input (:mod:`merprep.sample.layouts.writers`, re-exported here).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from merprep.errors import MerprepError
from merprep.sample.aus import AU, AUText
from merprep.sample.faces import REFERENCE_FACE_WIDTH, Photo, Rendering, render_subject
from merprep.sample.layouts.writers import (  # noqa: F401  (re-exported for the layouts)
    JPEG_QUALITY,
    au_cell,
    encode_image,
    write_csv,
    write_image,
    write_video,
    write_xlsx,
)
from merprep.sample.motion import Animator, motion_region

#: Stable integer per dataset, mixed into every random key so datasets do not share streams.
_DATASET_KEYS = {"casme2": 1, "samm": 2, "smic": 3, "casme3": 4, "deception": 5, "manifest": 6}

#: Renderings a context keeps (a frame each; a MEGC-sized run renders hundreds of sessions).
_RENDERINGS_KEPT = 8

#: Purposes of random streams, the last element of a clip's key.
SCHEDULE, PLAN, ANIMATION = 0, 1, 2


@dataclass
class SampleContext:
    """Options of one generation run plus what every layout needs."""

    dataset: str
    out: Path
    subjects: int
    clips_per_subject: int
    amplitude: float
    seed: int
    clip_length: int | None
    modality: str
    photos: list[Photo]
    progress: Callable[[int], Any] | None = None
    #: name subjects and clips after the official MEGC2019 list (merprep.sample.megc)
    megc: bool = False
    _renderings: dict[tuple, Rendering] = field(default_factory=dict, repr=False)

    def rng(self, *keys: int) -> np.random.Generator:
        """A generator determined by (seed, dataset, *keys) alone."""
        return np.random.default_rng([self.seed, _DATASET_KEYS[self.dataset], *keys])

    def render(
        self,
        subject_index: int,
        frame_size: tuple[int, int],
        face_width: float,
        session: int | None = None,
    ) -> Rendering:
        """Subject ``subject_index`` at rest in a frame of ``frame_size``, as seen in recording
        ``session`` (head pose and light vary between sessions; ``None``: the subject's own
        look). The last few renderings are kept, as cameras of one session reuse theirs."""
        key = (subject_index, tuple(frame_size), face_width, session)
        if key not in self._renderings:
            if len(self._renderings) >= _RENDERINGS_KEPT:
                del self._renderings[next(iter(self._renderings))]
            self._renderings[key] = render_subject(
                self.photos, self.seed, subject_index, frame_size, face_width, session
            )
        return self._renderings[key]

    def amplitude_px(self, rendering: Rendering) -> float:
        """``amplitude`` is given at CASME II face scale; scale it to this face's size."""
        return self.amplitude * rendering.face_width / REFERENCE_FACE_WIDTH

    def record(self, rendering: Rendering, plans: Sequence[ClipPlan], *seed_keys: int) -> Recording:
        """The animation of ``plans`` on ``rendering``, at this run's amplitude, its motion
        noise drawn from ``rng(*seed_keys)``."""
        return Recording(rendering, plans, self.amplitude_px(rendering), self.rng(*seed_keys))

    def number_rows(
        self, plans: list[ClipPlan], first_row: int, hide_apex_every: int, missing: Any
    ) -> list[ClipPlan]:
        """Give the plans their annotation rows (from ``first_row``) and write about every
        ``hide_apex_every``-th apex as ``missing`` (a seeded choice), as the real sheets leave
        some apexes unannotated."""
        hidden = every_nth(self.rng(999, PLAN), len(plans), hide_apex_every)
        for i, plan in enumerate(plans):
            plan.annotation_row = first_row + i
            plan.apex_written = missing if i in hidden else plan.apex
        return plans

    def clip_done(self) -> None:
        if self.progress is not None:
            self.progress(1)


@dataclass
class LayoutResult:
    """What a layout writer reports back to :func:`merprep.sample.generate`."""

    root: Path
    annotation_file: Path | None
    clips: list[dict[str, Any]]
    subjects_map: Path | None = None


# --------------------------------------------------------------------------------------------
# Emotions and their schedule
# --------------------------------------------------------------------------------------------

#: Motion families. The three MEGC2019 classes share facial regions and differ in the direction
#: and timing of their motion, as in the real datasets, so that no region alone gives the class
#: away: the brows are lowered for a negative (AU4) and raised for surprise (AU1+AU2); the lip
#: corners are pulled down or tightened for a negative (AU15/AU14, :data:`LIP_DOWN`) and pulled
#: out and up for a positive (AU12). A nose wrinkle / upper-lip raise (AU9/AU10) animates some
#: disgust clips beyond the first six of a subject.
AU4, LIP_DOWN, AU12, BROW_RAISE, AU9_10, OTHER = (
    "au4",
    "au14/15",
    "au12",
    "brow-raise",
    "au9/10",
    "other",
)

#: Where between onset and offset the apex falls (fraction of the span), by family: surprise
#: rises fast, a smile slowly; the ranges overlap, so timing is a hint, never the answer.
APEX_FRACTION = {
    BROW_RAISE: (0.2, 0.45),
    AU4: (0.35, 0.6),
    LIP_DOWN: (0.3, 0.55),
    AU12: (0.45, 0.7),
    AU9_10: (0.3, 0.6),
    OTHER: (0.3, 0.6),
}


@dataclass(frozen=True)
class EmotionSpec:
    """One emotion as a dataset writes it, with the AU strings written for it."""

    word: str
    group: str | None  # MEGC2019 class: 'negative', 'positive', 'surprise'; None if dropped
    family: str  # which motion family animates it (see the constants above)
    #: the AU annotations written for it (structured, written by merprep.sample.aus: the
    #: generator never parses AU text); each one is animated
    au_texts: tuple[AUText, ...]

    def pick_aus(self, rng: np.random.Generator) -> AUText:
        return self.au_texts[int(rng.integers(len(self.au_texts)))]

    @property
    def apex_fraction(self) -> tuple[float, float]:
        return APEX_FRACTION[self.family]


@dataclass(frozen=True)
class Vocabulary:
    """A dataset's emotions and the order in which clips beyond the first six cycle through them.

    ``extra_order`` lists (word, family) pairs; it starts with the emotions that the 3-class
    schedule never produces, so 5- and 7-class tasks see every class once subjects have enough
    clips.
    """

    emotions: tuple[EmotionSpec, ...]
    extra_order: tuple[tuple[str, str], ...]

    def find(self, word: str, family: str | None = None) -> EmotionSpec:
        for e in self.emotions:
            if e.word == word and (family is None or e.family == family):
                return e
        raise KeyError((word, family))

    def for_group(self, group: str, k: int) -> EmotionSpec:
        """The emotion of the ``k``-th listed clip of a MEGC2019 ``group`` (``--megc``):
        negatives alternate the brow-lowerer and lip-corner motions, as :meth:`schedule`."""
        choices = [e for e in self.emotions if e.group == group]
        if group == "negative":
            family = AU4 if k % 2 == 0 else LIP_DOWN
            choices = [e for e in choices if e.family == family] or choices
            k //= 2
        return choices[k % len(choices)]

    def schedule(self, n: int, subject_index: int, rng: np.random.Generator) -> list[EmotionSpec]:
        """The emotions of one subject's ``n`` clips.

        The first six are 2 negative (one AU4-animated, one AU14/15-animated, different words
        where the vocabulary has several), 2 positive and 2 surprise, shuffled per subject; which
        negative words a subject gets rotates with its index. Clips 7+ cycle ``extra_order``.
        """
        negatives = [e for e in self.emotions if e.group == "negative"]
        au4 = [e for e in negatives if e.family == AU4]
        lip_down = [e for e in negatives if e.family == LIP_DOWN]
        first_neg = au4[subject_index % len(au4)]
        second_choices = [e for e in lip_down if e.word != first_neg.word] or lip_down
        second_neg = second_choices[subject_index % len(second_choices)]
        positives = [e for e in self.emotions if e.group == "positive"]
        surprises = [e for e in self.emotions if e.group == "surprise"]
        core = [
            first_neg,
            second_neg,
            positives[0],
            positives[subject_index % len(positives)],
            surprises[0],
            surprises[-1],
        ]
        order = rng.permutation(len(core))
        core = [core[i] for i in order]
        extras = (self.find(w, f) for w, f in itertools.cycle(self.extra_order))
        return list(itertools.islice(itertools.chain(core, extras), n))


# --------------------------------------------------------------------------------------------
# Clip plans
# --------------------------------------------------------------------------------------------


@dataclass
class ClipPlan:
    """One clip as planned. Frame numbers are the dataset's own (file-name numbers, or 0-based
    indices in a video); ``frames`` are those written (a layout may drop some)."""

    subject: str  # normalised subject id (sub01, 006, s01, spNO.1, ...)
    subject_index: int
    clip_index: int  # position among the subject's clips (keys the clip's random streams)
    clip: str  # clip name as the dataset writes it
    emotion: str
    aus: str  # AU string as written in the annotation (an AUText: it knows its AUs)
    onset: int
    apex: int  # the true apex, whatever the annotation says
    offset: int
    frames: list[int]
    fps: float
    source: str = ""  # folder or video relative to the dataset root
    annotation_row: int | None = None
    apex_written: Any = None  # the apex cell as written (may hide the apex: '/', -1, '')
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def au_codes(self) -> list[AU]:
        """The AUs planned (from the plan's structure; AU text is never parsed here)."""
        if not isinstance(self.aus, AUText):
            raise TypeError(f"plan {self.clip}: aus must be an AUText, got {self.aus!r}")
        return self.aus.aus()


def clip_span(
    rng: np.random.Generator,
    n_frames: int,
    lead: int = 0,
    tail: int = 0,
    apex_fraction: tuple[float, float] = (0.3, 0.6),
) -> tuple[int, int, int]:
    """Positions (onset, apex, offset) within ``n_frames``: ``lead`` rest frames before the onset,
    ``tail`` after the offset, the apex ``apex_fraction`` (a range, e.g. an emotion's
    :attr:`EmotionSpec.apex_fraction`) of the way from onset to offset."""
    onset = lead
    offset = n_frames - 1 - tail
    if offset - onset < 2:
        raise MerprepError(f"a clip of {n_frames} frames is too short for onset < apex < offset")
    apex = onset + int(round(rng.uniform(*apex_fraction) * (offset - onset)))
    return onset, min(max(apex, onset + 1), offset - 1), offset


def every_nth(rng: np.random.Generator, n: int, period: int) -> set[int]:
    """Indices 0..n-1 hit by a stride of ``period`` starting at a random phase (exactly 1 in
    ``period``): used for rows whose apex the annotation leaves out."""
    phase = int(rng.integers(period))
    return {i for i in range(n) if (i + phase) % period == 0}


# --------------------------------------------------------------------------------------------
# Rendering a recording
# --------------------------------------------------------------------------------------------


class Recording:
    """The frames of one recording of a rendered subject holding the given planned expressions.

    ``timeline`` lists every frame number recorded in order (written or dropped); expressions
    are timed by their plans' onset/apex/offset on the same numbering.
    """

    def __init__(
        self,
        rendering: Rendering,
        plans: Sequence[ClipPlan],
        amplitude_px: float,
        rng: np.random.Generator,
    ):
        self.rendering = rendering
        self.plans = list(plans)
        self.amplitude_px = amplitude_px
        self._animator = Animator(rendering, rng)
        self.expressions = [
            self._animator.expression(p.au_codes, amplitude_px, p.onset, p.apex, p.offset)
            for p in self.plans
        ]
        self.regions = [motion_region(e.field) for e in self.expressions]

    def frames(self, timeline: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        for number in timeline:
            yield number, self._animator.frame(number, self.expressions)

    def truth(self, dataset: str, i: int = 0) -> dict[str, Any]:
        """The truth-file record of planned expression ``i``."""
        plan = self.plans[i]
        record = {
            "dataset": dataset,
            "subject": plan.subject,
            "clip": plan.clip,
            "source": plan.source,
            "onset": plan.onset,
            "apex": plan.apex,
            "offset": plan.offset,
            "apex_annotated": plan.apex_written,
            "annotation_row": plan.annotation_row,
            "emotion": plan.emotion,
            "aus": str(plan.aus),
            "au_codes": plan.aus.codes() if isinstance(plan.aus, AUText) else [],
            "animated_aus": [
                f"{c.side if c.side in ('L', 'R') else ''}{c.code}" for c in plan.au_codes
            ],
            "region": list(self.regions[i]),
            "amplitude_px": round(self.amplitude_px, 3),
            "fps": plan.fps,
            "n_frames": len(plan.frames),
            "first_frame": plan.frames[0],
            "last_frame": plan.frames[-1],
            "frame_size": list(self.rendering.size),
            "rendering": _rounded(self.rendering.params),
            "landmarks": [
                [round(float(x), 1), round(float(y), 1)] for x, y in self.rendering.landmarks
            ],
        }
        record.update(plan.extra)
        return record


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
def objective_class(codes: Iterable[AU]) -> int:
    """Objective class 1-7 of an AU set, after Davison et al. (2018), as SAMM and CAS(ME)^3
    annotate it: I AU12 (happiness), II AU1+AU2 (surprise), III AU4/AU7 (anger), IV AU9/AU10
    (disgust), V AU15 (sadness), VI AU1+AU2+AU4 (fear), VII others (AU14, AU17...)."""
    c = {a.code for a in codes}
    if {1, 2, 4} <= c:
        return 6
    if 12 in c:
        return 1
    if {1, 2} <= c:
        return 2
    if c & {4, 7}:
        return 3
    if c & {9, 10}:
        return 4
    if 15 in c:
        return 5
    return 7
