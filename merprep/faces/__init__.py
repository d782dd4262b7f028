"""Landmark backends (all produce the 68-point scheme) and face alignment/cropping."""

from __future__ import annotations

from importlib import import_module

from merprep.faces.base import FaceNotFound, LandmarkBackend

# name -> "module:Class"; imported on demand (MediaPipe alone takes seconds to import).
BACKENDS = {
    "dlib": "merprep.faces.dlib68:Dlib68Backend",
    "mediapipe": "merprep.faces.mediapipe68:MediaPipe68Backend",
}


def available_backends() -> list[str]:
    return list(BACKENDS)


def get_backend(name: str, **options) -> LandmarkBackend:
    """Instantiate the landmark backend ``name`` (loads its model files)."""
    return backend_class(name)(**options)


def backend_class(name: str) -> type[LandmarkBackend]:
    try:
        module_name, cls_name = BACKENDS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown landmark backend {name!r}; choose one of "
                         f"{', '.join(BACKENDS)}") from None
    return getattr(import_module(module_name), cls_name)


__all__ = ["FaceNotFound", "LandmarkBackend", "get_backend", "backend_class", "available_backends"]
