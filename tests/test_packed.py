"""Fold packing (``--executor packed``): K folds at once, each in its own worker process, give
the predictions of the folds run one after another; K follows the free GPU memory."""

from __future__ import annotations

import json

import numpy as np
from test_run import write_store

from mertrain.config import RunConfig
from mertrain.executors.packed import choose_pack, fold_bytes
from mertrain.runner import run


def test_packed_folds_predict_what_sequential_folds_predict(tmp_path):
    store = write_store(tmp_path / "s.h5")
    options = dict(stores=[str(store)], model="stcnn-3dcnn", epochs=2, model_options={"size": 32})
    seq = run(RunConfig.from_options(out=str(tmp_path / "seq"), **options), progress=False)
    packed = run(
        RunConfig.from_options(out=str(tmp_path / "packed"), executor="packed", pack=2, **options),
        progress=False,
    )
    assert seq.complete and packed.complete and packed.ran == [0, 1, 2]
    for i in range(3):
        a = json.loads((tmp_path / "seq" / "folds" / f"{i:03d}.json").read_text())
        b = json.loads((tmp_path / "packed" / "folds" / f"{i:03d}.json").read_text())
        assert a["proba"] == b["proba"] and a["history"] == b["history"], i
    cfg = json.loads((tmp_path / "packed" / "config.json").read_text())
    assert cfg["config"]["execution"]["executor"] == "packed"
    assert (
        cfg["identity_sha256"]
        == json.loads((tmp_path / "seq" / "config.json").read_text())["identity_sha256"]
    )  # how folds are executed is not part of a run's identity


def test_the_number_of_packed_folds_follows_free_memory():
    per = fold_bytes(n_params=2_000_000, input_elems=30 * 128 * 128 * 3, batch_size=8)
    # 32 MB of parameter state, 3 GB of activations (64 floats kept per input element), overhead
    assert 3.5e9 < per < 4.0e9
    assert choose_pack(68, per, free=int(139 * 2**30)) == int(0.9 * 139 * 2**30 // per)
    assert choose_pack(4, per, free=int(139 * 2**30)) == 4  # never more than the folds
    assert choose_pack(68, per, free=None) == 1 and choose_pack(68, per, free=10) == 1
    assert np.isclose(fold_bytes(0, 0, 1), 600 * 2**20)
