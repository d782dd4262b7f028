"""The section C recipes: the spatio-temporal CNNs of the SAMM study (binary and 7-class), one
per model and task, each value with its file and line in the reference code."""

from __future__ import annotations

from .types import NamedRecipe, Setting

SJ = "ShreyanshJoshi/Facial-Microexpression-Recognition@7272016c"
MODELS = {
    # registry name: (reference name, multiclass function lines, binary function lines)
    "stcnn-3dcnn": ("3dcnn", "39-58", "31-47"),
    "stcnn-cnnlstm": ("cnn+lstm", "60-78", "49-67"),
    "stcnn-convlstm2d": ("convlstm2d", "80-92", "69-81"),
    "stcnn-2dcnn-vote": ("2dcnn", "9-36", "9-28"),
}
#: where each model's input shape is declared: (multiclass line, binary line)
INPUT_LINES = {
    "stcnn-3dcnn": (40, 32),
    "stcnn-cnnlstm": (62, 51),
    "stcnn-convlstm2d": (82, 71),
    "stcnn-2dcnn-vote": (10, 10),
}
#: the closest online AugmentConfig to the reference's offline copies (see the deviations)
AUG_3D = {"flip_prob": 0.0, "max_translate": 15, "max_rotate": 13.0, "noise_std": 0.039}
AUG_2D = {"flip_prob": 0.0, "max_translate": 17, "max_rotate": 15.0, "noise_std": 0.047}

_DEVIATIONS = (
    "the reference evaluates by 5-fold cross-validation over clips after augmenting (copies of "
    "test clips in training) and reuses one model's weights across folds (main.py:42,58,72,96; "
    "utils/train_utils.py:9-39); here honest LOSO, a fresh model per fold, training clips "
    "augmented only",
    "ReduceLROnPlateau watches val_loss (a split of the leaked training data, "
    "utils/train_utils.py:24,78); here the training loss (or the inner-validation loss with "
    "--select inner-val), never the test fold",
    "the reference feeds full 128x128 frames without a face crop (utils/miscellaneous.py:15-29); "
    "merprep stores aligned face crops",
    "the key frames are floor steps between onset, apex and offset (utils/common.py:167-226); "
    "merprep --sampling key uses evenly spaced nearest frames (equal when the gaps divide by 4)",
    "BatchNorm momentum is Keras' 0.99 as in the reference (the project's default 0.9 learns on "
    "small data sets; docs/models.md, Defaults that learn)",
)
_AUG_NOTE = (
    "the reference adds a fixed number of augmented copies per class before training "
    "(utils/augmentation.py: each copy draws a horizontal shift of 1-15 px, a rotation of 1-13 "
    "degrees either way and Gaussian noise of mean 1-6 and sigma 1-10 grey levels, each with "
    "probability 1/2); here every training clip is augmented afresh each epoch with the "
    "closest AugmentConfig (shifts on both axes, no brightness offset)"
)


def _sj(model: str, task: str) -> NamedRecipe:
    ref, multi_lines, binary_lines = MODELS[model]
    binary = task == "binary"
    arch_file = "models/binary_models.py" if binary else "models/multiclass_models.py"
    arch = f"{arch_file}:{binary_lines if binary else multi_lines} `load_model_{ref}`"
    two_d = model == "stcnn-2dcnn-vote"
    shape_line = INPUT_LINES[model][1 if binary else 0]
    script = "main_2dcnn_with_majority_voting.py" if two_d else "main.py"
    if two_d:
        train = (
            Setting("epochs", 25, f"{script}:104 `p['epochs'] = 25`"),
            Setting(
                "batch_size",
                14,
                f"{script}:105 `p['batch_size'] = 128` single frames = 14 clips of 9 frames "
                "(this model batches clips)",
            ),
            Setting("lr", 3.5e-3, f"{script}:100 `p['lr'] = 0.0035`"),
        )
        augment = (
            Setting("augment", None, f"{script}:72 `augment=False if args.mode=='binary'`")
            if binary
            else Setting(
                "augment",
                AUG_2D,
                f"{script}:72 augment_2dimages; utils/augmentation.py (1b807255):205-211 "
                "shift 1-17 px, angle 1-15, noise sigma 1-12",
            )
        )
    else:
        train = (
            Setting("epochs", 25, f"{script}:91 `p['epochs'] = 25`"),
            Setting("batch_size", 16, f"{script}:92 `p['batch_size'] = 16`"),
            Setting("lr", 3e-3, f"{script}:87 `p['lr'] = 0.003`"),
        )
        augment = Setting(
            "augment",
            AUG_3D,
            f"{script}:{42 if binary else 58} augment_3dimages; utils/augmentation.py:25-31 "
            "shift 1-15 px, angle 1-13, noise sigma 1-10",
        )
    arch_settings = {
        "stcnn-3dcnn": (
            (
                Setting(
                    "model.filters",
                    [64, 96],
                    f"{arch_file}:34,37 `Conv3D(filters=64`, `Conv3D(filters=96`",
                ),
            )
            + (Setting("model.batchnorm", False, f"{arch}: no BatchNormalization"),)
            + (Setting("model.dense_units", 24, f"{arch_file}:42 `Dense(units=24`"),)
            + (Setting("model.dropout", 0.35, f"{arch_file}:43 `Dropout(0.35)`"),)
            if binary
            else (
                Setting(
                    "model.filters",
                    [32, 64],
                    f"{arch_file}:42,46 `Conv3D(filters=32`, `Conv3D(filters=64`",
                ),
                Setting("model.batchnorm", True, f"{arch_file}:44,48,54 `BatchNormalization()`"),
                Setting("model.dense_units", 32, f"{arch_file}:52 `Dense(units=32`"),
                Setting("model.dropout", 0.27, f"{arch_file}:53 `Dropout(0.27)`"),
            )
        )
        + (
            Setting(
                "model.kernel_initializer",
                "he_uniform",
                f"{arch_file}:{34 if binary else 42} `kernel_initializer='he_uniform'`",
            ),
        ),
        "stcnn-cnnlstm": (
            Setting(
                "model.lstm_activation",
                "relu",
                f"{arch_file}:{60 if binary else 71} `LSTM(32, activation='relu', dropout=0.4`",
            ),
            Setting(
                "model.final_dropout" if binary else "model.dropout",
                0.35 if binary else 0.3,
                f"{arch_file}:{63 if binary else 74} `Dropout` after `Dense(24`",
            ),
        ),
        "stcnn-convlstm2d": (
            Setting(
                "model.activation",
                "relu",
                f"{arch_file}:{71 if binary else 82} `ConvLSTM2D(32, ..., activation='relu'`",
            ),
            Setting(
                "model.dense_units",
                48 if binary else 64,
                f"{arch_file}:{76 if binary else 87} `Dense({48 if binary else 64}`",
            ),
        ),
        "stcnn-2dcnn-vote": (
            (
                Setting(
                    "model.filters",
                    [32, 64],
                    f"{arch_file}:12,16 `Conv2D(filters=32`, `Conv2D(filters=64`",
                ),
                Setting("model.dense_units", [64], f"{arch_file}:22 `Dense(units=64`"),
                Setting("model.dropouts", [0.3], f"{arch_file}:23 `Dropout(0.3)`"),
            )
            if binary
            else (
                Setting("model.filters", [64, 128, 256], f"{arch_file}:12,16,20 `Conv2D(filters=`"),
                Setting("model.dense_units", [384, 96], f"{arch_file}:26,30 `Dense(units=`"),
                Setting("model.dropouts", [0.42, 0.25], f"{arch_file}:27,31 `Dropout(`"),
            )
        )
        + (
            Setting(
                "model.dense_batchnorm",
                True,
                f"{arch_file}:{'24' if binary else '28,32'} `BatchNormalization()` after the "
                "dense layers",
            ),
            Setting(
                "model.kernel_initializer",
                "he_uniform",
                f"{arch_file}:12 `kernel_initializer='he_uniform'`",
            ),
        ),
    }[model]
    return NamedRecipe(
        name=f"{model}-samm-{task}",
        model=model,
        description=f"section C, {ref} on SAMM, {task} ({script}, {arch_file})",
        reference=f"{SJ} {script}, {arch_file}",
        settings=(
            Setting(
                "store",
                "9 grayscale key frames: onset, 3 between onset and apex, apex, 3 between apex "
                "and offset, offset (merprep extract --sampling key --color gray)",
                "utils/common.py:167-226",
            ),
            Setting("preset", "samm-binary" if binary else "samm", arch),
            Setting("input", "raw", "utils/miscellaneous.py:15-29 raw grayscale frames 0..255"),
            Setting(
                "task",
                task,
                "utils/common.py:294-319 positive = happiness, negative = the rest but surprise "
                "and other"
                if binary
                else "utils/common.py:231-292 seven emotions, other dropped",
            ),
            Setting(
                "frames",
                9,
                f"{script}:45,61 `get_classes_list_with_9frames_and_labels` (the 9 key frames)"
                if two_d
                else f"{arch_file}:{shape_line} input shape (9, 128, 128, 1)",
            ),
            Setting("size", 128, f"{arch_file}:{shape_line} 128x128 grayscale input"),
            *arch_settings,
            Setting("model.bn_momentum", 0.99, f"{arch}: `BatchNormalization()` (Keras' 0.99)"),
            *train,
            Setting(
                "schedule",
                "plateau:0.5:3:0.0001",
                "utils/train_utils.py:78 `ReduceLROnPlateau(monitor='val_loss', factor=0.5, "
                "patience=3, min_lr=0.0001)`",
            ),
            Setting("loss", "ce", f"{script}:{101 if two_d else 88} 'categorical_crossentropy'"),
            Setting(
                "class_weights",
                None,
                f"{script}:{101 if two_d else 88} plain CE; utils/train_utils.py:82-84 fit "
                "without class_weight",
            ),
            augment,
        ),
        deviations=_DEVIATIONS + ((_AUG_NOTE,) if augment.value else ()),
    )


STCNN_RECIPES = tuple(_sj(model, task) for model in MODELS for task in ("binary", "7class"))
