"""mertrain is backend-neutral Keras 3: TensorFlow (the default) and JAX on the CPU.

- one small model of each family is built and trained for a step under each backend, and the
  weights saved as ``.keras`` under one load under the other and predict the same to float
  tolerance;
- a whole fold trains under JAX, its config records the backend, and reusing the compiled
  model across folds gives the predictions of fresh builds (under JAX the compiled step captures
  the fold loss's class weights and prior, so the trainer builds afresh there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
#: one model per Keras family, at its test size
MODELS = ("dual3dcnn-gru-ecbam", "stcnn-3dcnn", "ststnet")

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    import keras
    from mertrain.models import get_model, load_model

    folder, other, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    me = keras.backend.backend()
    out = {"backend": me, "models": {}}
    for name in names:
        spec = get_model(name)
        cfg = spec.make_config(**spec.test_overrides)
        rng = np.random.default_rng(0)
        x = {k: rng.normal(size=(4, *s)).astype("float32")
             for k, s in spec.input_shapes(cfg).items()}
        row = {}
        if not (folder / f"{name}.{me}.keras").exists():  # build, train a step, save
            keras.utils.set_random_seed(0)
            model, _ = spec.build(3, config=cfg)
            model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True))
            row["loss"] = float(np.asarray(model.train_on_batch(x, np.array([0, 1, 2, 0]))))
            model.save(folder / f"{name}.{me}.keras")
            row["logits"] = np.asarray(model.predict(x, verbose=0)).tolist()
        theirs = folder / f"{name}.{other}.keras"
        if theirs.exists():  # what the other backend saved, loaded here
            row["loaded"] = np.asarray(load_model(theirs).predict(x, verbose=0)).tolist()
        out["models"][name] = row
    print(json.dumps(out))
    """
)


def _run(backend: str, folder: Path, other: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder), other, *MODELS],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_each_family_trains_under_both_backends_and_loads_across(tmp_path):
    tf_run = _run("tensorflow", tmp_path, "jax")  # builds and saves
    jax_run = _run("jax", tmp_path, "tensorflow")  # builds, saves, loads TensorFlow's
    back = _run("tensorflow", tmp_path, "jax")  # loads JAX's
    assert (tf_run["backend"], jax_run["backend"]) == ("tensorflow", "jax")
    for name in MODELS:
        tf_row, jax_row = tf_run["models"][name], jax_run["models"][name]
        assert np.isfinite(tf_row["loss"]) and np.isfinite(jax_row["loss"]), name
        # TensorFlow's weights under JAX, and JAX's under TensorFlow: the same logits
        np.testing.assert_allclose(jax_row["loaded"], tf_row["logits"], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(
            back["models"][name]["loaded"], jax_row["logits"], rtol=1e-4, atol=1e-4
        )


RUN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, "tests")
    from pathlib import Path
    from test_losses import _store
    from mertrain.config import RunConfig
    from mertrain.runner import run

    d = Path(sys.argv[1])
    labels = {"sub01": [0, 1, 2, 0, 1, 2], "sub02": [0, 0, 0, 1, 2, 2],
              "sub03": [0, 1, 1, 1, 2, 2]}
    store = _store(d / "s.h5", labels)
    out = {}
    for reuse in (True, False):
        folder = d / f"reuse-{reuse}"
        run(RunConfig.from_options(stores=[str(store)], out=str(folder), model="stcnn-3dcnn",
                                   epochs=2, model_options={"size": 32},
                                   loss="logit_adjusted", reuse_model=reuse), progress=False)
        out[str(reuse)] = [json.loads((folder / "folds" / f"{i:03d}.json").read_text())["proba"]
                           for i in range(3)]
    out["config"] = json.loads((d / "reuse-True" / "config.json").read_text())["config"]
    print(json.dumps(out))
    """
)


def test_a_run_under_jax_records_its_backend_and_reuse_equals_fresh_builds(tmp_path):
    """The folds' training priors differ (sub02 and sub03 are uneven); a reused compiled JAX
    model trained fold 2 with fold 1's prior (0.2 off in probability) before the trainer built
    afresh under JAX."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    res = subprocess.run(
        [sys.executable, "-c", RUN_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["config"]["runtime"]["backend"] == "jax"
    for reused, fresh in zip(out["True"], out["False"]):
        np.testing.assert_array_equal(reused, fresh)
