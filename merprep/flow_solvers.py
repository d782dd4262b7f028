"""Dense optical flow solvers of ``merprep flow``: TV-L1 (opencv-contrib) with two parameter
sets, and Farneback.

TV-L1 (``--tvl1``):

- ``opencv``: ``cv2.optflow.DualTVL1OpticalFlow_create()`` as it comes (tau .25, lambda .15,
  theta .3, 5 scales with step 0.8, 5 warps, epsilon .01, 30 inner x 10 outer iterations with a
  5 x 5 median filter between outer ones).
- ``ipol``: the parameters of the IPOL program (Sanchez Perez, Meinhardt-Llopis, Facciolo,
  "TV-L1 Optical Flow Estimation", IPOL 2013), which STSTNet's published flow used: tau .25,
  lambda .15, theta .3, zoom factor 0.5 with as many scales as keep the coarsest image at least
  16 px (``N = 1 + log(hypot(W, H) / 16) / log(2)``, at most 100), 5 warps, epsilon .01, up to
  300 iterations per warp, no median filter, a Gaussian pre-smoothing of sigma 0.8. Run in
  OpenCV's solver, not the IPOL program itself. docs/references.md#audit-5 measured the two sets 2x
  apart in end-point error on a 0.94 px bump; on the textured bump of ``tests/test_flow.py`` they
  agree within 0.003 px: the difference depends on the image.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from merprep.errors import MerprepError

METHODS = ("tvl1", "farneback")

#: Farneback parameters (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags):
#: OpenCV's documented example values; a 15 px window suits 64-128 px faces.
FARNEBACK_PARAMS = (0.5, 3, 15, 3, 5, 1.2, 0)

#: the IPOL program's defaults (main.c / tvl1flow_lib.c of the IPOL 2013 article)
IPOL = {
    "tau": 0.25,
    "lambda": 0.15,
    "theta": 0.3,
    "scale_step": 0.5,
    "max_scales": 100,
    "warps": 5,
    "epsilon": 0.01,
    "inner_iterations": 300,
    "outer_iterations": 1,
    "median_filtering": 1,
    "gamma": 0.0,
    "presmoothing_sigma": 0.8,
}
#: parameter sets of ``--tvl1``
TVL1_PRESETS = ("opencv", "ipol")


def to_gray(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W) from an RGB (H, W, 3), single-channel (H, W, 1) or gray (H, W) frame."""
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    if frame.ndim == 3:
        frame = frame[:, :, 0]
    return np.ascontiguousarray(frame, dtype=np.uint8)


def ipol_scales(width: int, height: int) -> int:
    """The IPOL program's number of scales: the coarsest image at least 16 px, at most 100."""
    n = 1 + math.log(math.hypot(width, height) / 16.0) / math.log(1 / IPOL["scale_step"])
    return max(1, min(int(IPOL["max_scales"]), int(n)))


def _solver(preset: str) -> Any:
    if not hasattr(cv2, "optflow"):
        raise MerprepError(
            "TV-L1 flow needs cv2.optflow (opencv-contrib-python); "
            "install it or choose the farneback method"
        )
    # opencv-contrib's optflow module is missing from OpenCV's bundled type stubs
    solver = cv2.optflow.DualTVL1OpticalFlow_create()  # type: ignore[attr-defined]
    if preset == "ipol":
        solver.setTau(IPOL["tau"])
        solver.setLambda(IPOL["lambda"])
        solver.setTheta(IPOL["theta"])
        solver.setScaleStep(IPOL["scale_step"])
        solver.setWarpingsNumber(int(IPOL["warps"]))
        solver.setEpsilon(IPOL["epsilon"])
        solver.setInnerIterations(int(IPOL["inner_iterations"]))
        solver.setOuterIterations(int(IPOL["outer_iterations"]))
        solver.setMedianFiltering(int(IPOL["median_filtering"]))
        solver.setGamma(IPOL["gamma"])
    return solver


def tvl1_params(preset: str) -> dict[str, Any]:
    """The parameters a preset runs with, read back from OpenCV's solver (for the stage's
    params; ``ipol`` adds its scale rule and pre-smoothing)."""
    s = _solver(preset)
    params: dict[str, Any] = {
        "tau": s.getTau(),
        "lambda": s.getLambda(),
        "theta": s.getTheta(),
        "scales": s.getScalesNumber(),
        "scale_step": s.getScaleStep(),
        "warps": s.getWarpingsNumber(),
        "epsilon": s.getEpsilon(),
        "inner_iterations": s.getInnerIterations(),
        "outer_iterations": s.getOuterIterations(),
        "median_filtering": s.getMedianFiltering(),
        "gamma": s.getGamma(),
    }
    if preset == "ipol":
        params["scales"] = "1 + log(hypot(W, H) / 16) / log(2), at most 100 (IPOL's rule)"
        params["presmoothing_sigma"] = IPOL["presmoothing_sigma"]
    return params


class FlowEstimator:
    """Dense flow from one grayscale frame to another; create once per process and reuse
    (building the TV-L1 solver allocates its buffers)."""

    def __init__(self, method: str = "tvl1", tvl1: str = "opencv"):
        if method not in METHODS:
            raise MerprepError(
                f"unknown flow method {method!r}; choose one of {', '.join(METHODS)}"
            )
        if tvl1 not in TVL1_PRESETS:
            raise MerprepError(f"unknown TV-L1 parameter set {tvl1!r}; choose opencv or ipol")
        self.method, self.tvl1 = method, tvl1
        self._tvl1 = _solver(tvl1) if method == "tvl1" else None

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """float32 (H, W, 2) flow (u, v) in pixels: the content at x in ``first`` is at
        x + flow(x) in ``second``."""
        a, b = to_gray(first), to_gray(second)
        if self._tvl1 is None:
            flow = cv2.calcOpticalFlowFarneback(a, b, None, *FARNEBACK_PARAMS)
        elif self.tvl1 == "ipol":
            h, w = a.shape
            self._tvl1.setScalesNumber(ipol_scales(w, h))
            sigma = IPOL["presmoothing_sigma"]
            # OpenCV reads float images in [0, 1]; the program smooths both before its pyramid
            fa, fb = (cv2.GaussianBlur(x.astype(np.float32) / 255, (0, 0), sigma) for x in (a, b))
            flow = self._tvl1.calc(fa, fb, None)
        else:
            flow = self._tvl1.calc(a, b, None)
        return np.asarray(flow, np.float32)


def compute_flow(
    first: np.ndarray, second: np.ndarray, method: str = "tvl1", tvl1: str = "opencv"
) -> np.ndarray:
    """One-off convenience around :class:`FlowEstimator`."""
    return FlowEstimator(method, tvl1)(first, second)
