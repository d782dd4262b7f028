"""Regenerate the shipped photographs' 68-point landmarks (``photos/landmarks.json``).

Sample generation never runs a face detector: every subject rendering is a known geometric
transform of a shipped photograph, so its landmarks follow from the photo's landmarks. Those are
computed once, here, with the same detector the pipeline uses (dlib HOG + the 68-point shape
predictor shipped by ``face_recognition_models``), and stored beside the photos.

Usage::

    python -m merprep.sample.photos_landmarks           # recompute photos/landmarks.json
    python -m merprep.sample.photos_landmarks --import  # first re-copy the photos from
                                                        # scikit-image, matplotlib
                                                        # (photos/SOURCES.md)
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

PHOTOS_DIR = Path(__file__).with_name("photos")
LANDMARKS_FILE = PHOTOS_DIR / "landmarks.json"

#: The astronaut portrait is cropped to this box (x0, y0, x1, y1) of the 512x512 original: the
#: full image has a second, weak HOG detection on the suit around (126,335)-(215,425).
ASTRONAUT_CROP = (70, 0, 370, 300)


@dataclass(frozen=True)
class Detection:
    """One detected face: the detector box (left, top, right, bottom) and 68 (x, y) points."""

    box: tuple[int, int, int, int]
    points: np.ndarray  # (68, 2) float
    score: float


class Dlib68:
    """dlib's frontal face detector plus the 68-point shape predictor, loaded once."""

    def __init__(self):
        import dlib
        import face_recognition_models

        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(
            face_recognition_models.pose_predictor_model_location()
        )

    def __call__(self, image: np.ndarray, upsample: int = 1) -> list[Detection]:
        """Faces in a BGR or gray image.

        dlib 20 misreads numpy views with negative strides, so the image is always converted
        into a fresh contiguous RGB (or gray) array before it is handed over.
        """
        if image.ndim == 2:
            arr = np.ascontiguousarray(image)
        else:
            arr = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        boxes, scores, _ = self.detector.run(arr, upsample, 0.0)
        found = []
        for box, score in zip(boxes, scores):
            shape = self.predictor(arr, box)
            pts = np.array(
                [[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)],
                dtype=np.float64,
            )
            found.append(
                Detection((box.left(), box.top(), box.right(), box.bottom()), pts, float(score))
            )
        return found


def import_photos(dest: Path = PHOTOS_DIR) -> None:
    """Copy the two public-domain photographs from scikit-image and matplotlib into ``dest``."""
    import matplotlib.cbook
    import skimage.data

    x0, y0, x1, y1 = ASTRONAUT_CROP
    astronaut = skimage.data.astronaut()[y0:y1, x0:x1]  # RGB
    cv2.imwrite(str(dest / "astronaut.png"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    hopper = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    shutil.copyfile(hopper, dest / "grace_hopper.jpg")


def compute_landmarks(photos_dir: Path = PHOTOS_DIR) -> dict[str, dict]:
    """Detect the single face in each shipped photo; fail loudly if it is not exactly one."""
    detect = Dlib68()
    out: dict[str, dict] = {}
    for path in sorted(photos_dir.iterdir()):
        if path.suffix.lower() not in {".png", ".jpg", ".jpeg"}:
            continue
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        faces = detect(image)
        if len(faces) != 1:
            raise RuntimeError(f"{path.name}: expected exactly one face, dlib found {len(faces)}")
        face = faces[0]
        out[path.name] = {
            "size": [int(image.shape[1]), int(image.shape[0])],
            "box": list(face.box),
            "points": [[int(x), int(y)] for x, y in face.points],
        }
        log.info("%s: face at %s", path.name, face.box)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--import",
        dest="do_import",
        action="store_true",
        help="re-copy the photographs from scikit-image and matplotlib first",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.do_import:
        import_photos()
    landmarks = compute_landmarks()
    document = {
        "about": "68-point landmarks (iBUG/dlib order) of each photo, from dlib's frontal face "
        "detector and shape_predictor_68_face_landmarks; regenerate with "
        "`python -m merprep.sample.photos_landmarks`",
        "photos": landmarks,
    }
    text = json.dumps(document, indent=1)
    text = re.sub(r"\[\s+(-?\d+),\s+(-?\d+)\s+\]", r"[\1, \2]", text)  # one point per line
    LANDMARKS_FILE.write_text(text + "\n")
    log.info("wrote %s", LANDMARKS_FILE)


if __name__ == "__main__":
    main()
