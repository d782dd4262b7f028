"""Model zoo: a registry of micro-expression models (see docs/models.md).

::

    from mertrain.models import build_model, get_model, list_models
    model, cfg = build_model("dual3dcnn-gru-ecbam", n_classes=3, preset="smic")
    spec = get_model("dual3dcnn-gru-ecbam")
    spec.input_shapes(cfg)   # {"face": (10, 128, 128, 3)}

Importing this package registers every family (one module each) without importing TensorFlow;
Keras is imported when a Keras model is first built. New model: add a module with a config
dataclass and an ``@register_model`` builder, and import it below.
"""

# model families (import order = listing order)
from . import (
    dual3dcnn,  # noqa: F401  sections A and B
    flownets,  # noqa: F401  section D + STSTNet
    lbptop,  # noqa: F401  LBP-TOP + SVM baseline
    stcnn,
)
from .registry import (
    SOURCE_COMMANDS,
    InputSpec,
    ModelConfig,
    ModelSpec,
    build_model,
    count_params,
    get_model,
    list_models,
    make_config,
    model_names,
    parse_schedule,
    predict_proba,
    register_model,
)

__all__ = [
    "SOURCE_COMMANDS",
    "InputSpec",
    "ModelConfig",
    "ModelSpec",
    "build_model",
    "count_params",
    "get_model",
    "list_models",
    "load_model",
    "make_config",
    "model_names",
    "parse_schedule",
    "predict_proba",
    "register_model",
    "vote_predict",
]


def load_model(path):
    """``keras.models.load_model`` with this package's custom layers registered."""
    import keras

    from . import layers  # noqa: F401  registers the custom layers

    return keras.models.load_model(path)


def vote_predict(model, x, batch_size: int = 16):
    """Majority-vote class probabilities of ``stcnn-2dcnn-vote`` (see :mod:`.stcnn`)."""
    return stcnn.vote_predict(model, x, batch_size=batch_size)
