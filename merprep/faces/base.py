"""The landmark-backend interface: one image in, 68 (x, y) points out.

Everything downstream (alignment, AU regions) uses the iBUG 68-point scheme, 0-based:
jaw 0-16, right brow 17-21, left brow 22-26, nose 27-35, right eye 36-41, left eye 42-47,
mouth 48-67 ("right"/"left" from the subject's point of view, as in dlib).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from merprep.errors import MerprepError

RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)


class FaceNotFound(MerprepError):
    """No face was detected in a frame."""


class LandmarkBackend(ABC):
    """Detect the main face in an image and return its 68 landmarks as float32 (68, 2)."""

    name: str

    @property
    @abstractmethod
    def version(self) -> str:
        """Library and model version, recorded in every store."""

    @classmethod
    @abstractmethod
    def describe_version(cls) -> str:
        """The same as ``version`` without instantiating (cheap; used by the store writer)."""

    @abstractmethod
    def landmarks(self, image: np.ndarray) -> np.ndarray:
        """68x2 (x, y) points of the largest face in ``image`` (uint8 RGB or gray); raise
        :class:`FaceNotFound` when there is none."""


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right-eye centre, left-eye centre) as means of the six eye contour points each."""
    return points[RIGHT_EYE].mean(axis=0), points[LEFT_EYE].mean(axis=0)
