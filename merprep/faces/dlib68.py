"""dlib's HOG face detector and 68-point shape predictor (iBUG 300-W model).

The predictor file comes from the ``face-recognition-models`` package, so nothing is downloaded
at run time. dlib 20 misreads numpy views with negative strides (e.g. ``frame[:, :, ::-1]``),
missing faces at random: every image is made contiguous before it reaches dlib.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path

import numpy as np

from merprep.faces.base import FaceNotFound, LandmarkBackend


def predictor_path() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.pose_predictor_model_location())


class Dlib68Backend(LandmarkBackend):
    name = "dlib"

    #: The HOG detector runs on a copy whose longer side is at most this many pixels (faces in
    #: micro-expression datasets fill a large part of the frame, so the HOG detector's 80 px
    #: minimum is no limit); the 68 points are then fitted on the full-resolution image.
    #: Detection dominates extraction time otherwise: on CASME II's 640x480 frames this is 2.6x
    #: fewer pixels, on SAMM's 2040x1088 26x.
    detect_max_side = 400

    def __init__(self, upsample: int = 0):
        import dlib

        self._dlib = dlib
        self.upsample = upsample
        self._detector = dlib.get_frontal_face_detector()
        self._path = predictor_path()
        self._predictor = dlib.shape_predictor(str(self._path))

    @property
    def version(self) -> str:
        return self.describe_version()

    @classmethod
    def describe_version(cls) -> str:
        """Library version and predictor identity, without loading the 100 MB model."""
        path = predictor_path()
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read(1 << 20)).hexdigest()[:12]
        return f"dlib {version('dlib-bin')}; {path.name} (sha256 of first MiB {digest})"

    def detect(self, image: np.ndarray):
        """The largest face rectangle; tries one upsampling step when the first pass finds none."""
        img = np.ascontiguousarray(
            image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image
        )
        scale = min(1.0, self.detect_max_side / max(img.shape[:2]))
        small = img
        if scale < 1.0:
            import cv2

            small = cv2.resize(
                img,
                (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                interpolation=cv2.INTER_AREA,
            )
        for up in (self.upsample, self.upsample + 1):
            rects = self._detector(small, up)
            if len(rects):
                r = max(rects, key=lambda r: r.width() * r.height())
                if scale < 1.0:
                    r = self._dlib.rectangle(
                        round(r.left() / scale),
                        round(r.top() / scale),
                        round(r.right() / scale),
                        round(r.bottom() / scale),
                    )
                return img, r
        raise FaceNotFound("no face detected")

    def landmarks(self, image: np.ndarray) -> np.ndarray:
        img, rect = self.detect(image)
        shape = self._predictor(img, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
