"""Landmark backends (all produce the 68-point scheme) and face alignment/cropping."""

from __future__ import annotations

from merprep.faces.base import FaceNotFound, LandmarkBackend
from merprep.registry import Registry

#: name -> backend class, imported on demand (MediaPipe alone takes seconds to import)
BACKENDS: Registry[type[LandmarkBackend]] = Registry("landmark backend")
BACKENDS.register_lazy("dlib", "merprep.faces.dlib68:Dlib68Backend")
BACKENDS.register_lazy("mediapipe", "merprep.faces.mediapipe68:MediaPipe68Backend")


def available_backends() -> list[str]:
    return BACKENDS.names()


def get_backend(name: str, **options) -> LandmarkBackend:
    """Instantiate the landmark backend ``name`` (loads its model files)."""
    return backend_class(name)(**options)


def backend_class(name: str) -> type[LandmarkBackend]:
    """The backend class ``name`` (ValueError for an unknown name), without loading models."""
    return BACKENDS.get(name)


__all__ = [
    "BACKENDS",
    "FaceNotFound",
    "LandmarkBackend",
    "available_backends",
    "backend_class",
    "get_backend",
]
