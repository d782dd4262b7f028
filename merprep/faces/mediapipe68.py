"""MediaPipe FaceMesh (478 points) mapped onto the iBUG 68-point scheme.

Uses the legacy ``mediapipe.python.solutions.face_mesh`` graph with ``refine_landmarks=True``
(468 mesh points + 10 iris points); the model files ship inside the mediapipe wheel, so nothing
is downloaded. ``import mediapipe`` takes seconds and loads TensorFlow, so it happens in
``__init__`` (once per worker process), never at module import.

Everything downstream speaks the 68-point scheme, so :data:`MESH_TO_68` gives, for each of the
68 points, the mesh point(s) whose mean stands in for it. The table was chosen by comparing with
dlib on the shipped photographs (docs/landmarks.md has the table, the reasoning and the errors):

- eyes use exactly the 6-point contours 33,160,158,133,153,144 / 362,385,387,263,373,380, so an
  eye centre (mean of six points) means the same thing for both backends;
- the jaw follows the mesh's face oval; where dlib's 17 evenly spaced points fall between two
  oval vertices, the two are averaged;
- a few lip and nostril points that sit between two mesh vertices are averaged likewise.

The table is left-right symmetric (mesh mirror partners for mirror 68-point partners).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from importlib.metadata import version
from pathlib import Path

import numpy as np

from merprep.faces.base import FaceNotFound, LandmarkBackend
from merprep.quiet import native_stderr_silenced

#: 68-point index -> mesh indices averaged for it ("right"/"left" = the subject's, as in dlib:
#: point 0 and the "right eye" 36-41 are on the image's left).
MESH_TO_68: tuple[tuple[int, ...], ...] = (
    # jaw 0-16 (face oval, image-left ear level -> chin 152 -> image-right ear level)
    (127,),
    (234, 93),
    (93, 132),
    (58,),
    (172,),
    (136, 150),
    (149,),
    (176, 148),
    (152,),
    (377, 400),
    (378,),
    (379, 365),
    (397,),
    (288,),
    (361, 323),
    (323, 454),
    (356,),
    # right brow 17-21 (outer -> inner), left brow 22-26 (inner -> outer): upper brow contour
    (70,),
    (63,),
    (105,),
    (66,),
    (107,),
    (336,),
    (296,),
    (334,),
    (293,),
    (300,),
    # nose bridge 27-30 (top -> tip), nostril base 31-35 (image left -> right)
    (168,),
    (197,),
    (195, 5),
    (4,),
    (75, 59),
    (97,),
    (2,),
    (326,),
    (305, 289),
    # right eye 36-41: outer corner, upper x2, inner corner, lower x2
    (33,),
    (160,),
    (158,),
    (133,),
    (153,),
    (144,),
    # left eye 42-47: inner corner, upper x2, outer corner, lower x2
    (362,),
    (385,),
    (387,),
    (263,),
    (373,),
    (380,),
    # outer lips 48-59 (right corner, upper lip, left corner, lower lip)
    (61,),
    (39, 40),
    (37,),
    (0,),
    (267,),
    (269, 270),
    (291,),
    (321, 405),
    (314,),
    (17,),
    (84,),
    (181, 91),
    # inner lips 60-67
    (78,),
    (82,),
    (13,),
    (312,),
    (308,),
    (317,),
    (14,),
    (87,),
)

#: The 68-point table as a (68, 478) averaging matrix: points68 = MAP_MATRIX @ mesh.
MAP_MATRIX = np.zeros((68, 478), dtype=np.float64)
for _i, _idx in enumerate(MESH_TO_68):
    MAP_MATRIX[_i, list(_idx)] = 1.0 / len(_idx)
del _i, _idx

#: The face-landmark model used with refine_landmarks=True (inside the mediapipe package).
MODEL_RELPATH = Path("modules/face_landmark/face_landmark_with_attention.tflite")


def mesh_to_68(mesh: np.ndarray) -> np.ndarray:
    """(468 or 478, 2) mesh points -> (68, 2) float32 points of the iBUG scheme."""
    mesh = np.asarray(mesh, dtype=np.float64)
    return (MAP_MATRIX[:, : len(mesh)] @ mesh).astype(np.float32)


def _package_dir() -> Path:
    """mediapipe's install folder, found without importing it (the import takes seconds)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise ImportError("mediapipe is not installed")
    return Path(spec.origin).parent


class MediaPipe68Backend(LandmarkBackend):
    """MediaPipe FaceMesh; :meth:`landmarks` gives the 68-point mapping, :meth:`mesh` all 478."""

    name = "mediapipe"

    def __init__(self, min_detection_confidence: float = 0.5):
        # MediaPipe and the TensorFlow it loads log to stderr on import unless told not to;
        # the C++ side writes to descriptor 2 regardless (merprep.quiet)
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with native_stderr_silenced():
            from mediapipe.python.solutions import face_mesh

            self._mesh = face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=min_detection_confidence,
            )
        self._warm = False

    @property
    def version(self) -> str:
        return self.describe_version()

    @classmethod
    def describe_version(cls) -> str:
        """mediapipe's version and the landmark model's identity, without importing mediapipe."""
        model = _package_dir() / MODEL_RELPATH
        with open(model, "rb") as fh:
            digest = hashlib.sha256(fh.read(1 << 20)).hexdigest()[:12]
        return (
            f"mediapipe {version('mediapipe')}; face_mesh refine_landmarks, {model.name} "
            f"(sha256 of first MiB {digest}); 68-point mapping merprep.faces.mediapipe68"
        )

    def mesh(self, image: np.ndarray) -> np.ndarray:
        """(478, 2) float32 mesh points (x, y in pixels) of the face in ``image`` (uint8 RGB or
        gray); raises :class:`FaceNotFound`."""
        img = np.asarray(image)
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        img = np.ascontiguousarray(img, dtype=np.uint8)
        if self._warm:
            result = self._mesh.process(img)
        else:  # the graph's first run logs its delegates and calculators from C++
            with native_stderr_silenced():
                result = self._mesh.process(img)
            self._warm = True
        if not result.multi_face_landmarks:
            raise FaceNotFound("no face detected (MediaPipe FaceMesh)")
        h, w = img.shape[:2]
        pts = result.multi_face_landmarks[0].landmark
        return np.array([[p.x * w, p.y * h] for p in pts], dtype=np.float32)

    def landmarks(self, image: np.ndarray) -> np.ndarray:
        return mesh_to_68(self.mesh(image))

    def close(self) -> None:
        """Release the MediaPipe graph (it is also released when the object is collected)."""
        self._mesh.close()
