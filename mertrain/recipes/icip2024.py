"""The ICIP 2024 recipes (section A) and its extended version's (section B), one per reference
script, each value with its file and line (reference commits as in
docs/references.md#reference-audit)."""

from __future__ import annotations

from .types import NamedRecipe, Setting

ICIP = "dannyFan-0201/ICIP_2024@64eafb7d"
EXT = (
    "dannyFan-0201/Micro-expression-recognition-using-dual-branch-3DCNN-network-with-novel-"
    "attention-mechanism@98b866db"
)
WCE = [0.3, 0.35, 0.35]

_ICIP_DEVIATIONS = (
    "the reference repeats each label 4 times over the GRU steps (ME_model.py:249-250), which "
    "matches neither the 8 steps at T=30 nor the 3 at T=10 (its fit fails), and scores the first "
    "step (:34); here one prediction per clip from the GRU's last step",
    "the reference normalises with the mean and max of ALL clips, test subjects included "
    "(:145-147); input raw here fits the mean on each training fold (x/255 - mean, no max "
    "division)",
    "the reference keys subjects by file name (:159), which puts CASME II clips of repeated "
    "names in another subject's fold; here clips are keyed by id",
    "the reference reports each subject's best TEST epoch (:253-260); this recipe trains the "
    "same epochs and evaluates the last one; --select oracle-per-subject reproduces the "
    "reference's selection (labelled optimistic) and every run reports it beside",
)


def _icip(dataset: str, script: str, frames: int, dropout: float, shift: int = 0) -> NamedRecipe:
    """``shift``: SAMM/ME_model.py has one blank line fewer before its LOSO loop."""

    def at(*lines: int) -> str:
        return ",".join(str(n + (shift if n > 180 else 0)) for n in lines)

    # the script at the repository root (CASME II) imports CASME2/attention.py's layer
    attention = (script.split("/")[0] if "/" in script else "CASME2") + "/attention.py"

    return NamedRecipe(
        name=f"icip2024-{dataset}",
        model="dual3dcnn-gru-ecbam",
        description=f"ICIP 2024 (section A), {script}",
        reference=f"{ICIP} {script}",
        settings=(
            Setting(
                "store",
                f"the first {frames} frames of each clip, RGB",
                f"{script}:89,104,119 `framerange = [x + 0 for x in range({frames})]`",
            ),
            Setting("preset", dataset, f"{script} (the dataset's script)"),
            Setting("input", "raw", f"{script}:145-147 raw RGB frames, mean subtracted"),
            Setting("protocol", "loso", f"{script}:{at(183)}-{at(184)} `LeaveOneGroupOut()`"),
            Setting("task", "3class", f"{script}:133-135 labels negative/positive/surprise"),
            Setting("frames", frames, f"{script}:75 `image_depth = {frames}`"),
            Setting("size", 128, f"{script}:75 `image_rows, image_columns = 128, 128`"),
            Setting("model.pool", 2, f"{script}:{at(200, 204, 209)} `MaxPooling3D((2, 2, 2))`"),
            Setting("model.merge_filters", 32, f"{script}:{at(207)} `Conv3D(32, (3, 3, 3))`"),
            Setting("model.gru_units", 1024, f"{script}:{at(220)} `GRU(1024)`"),
            Setting("model.dropout", dropout, f"{script}:{at(213, 216, 219)} `Dropout({dropout})`"),
            Setting(
                "model.channel_combine",
                "ec",
                f"{attention}:28 `sigmoid(0.5*(channel_attention_max - channel_attention_avg))`",
            ),
            Setting("epochs", 200, f"{script}:{at(251)} `epochs=200`"),
            Setting("batch_size", 8, f"{script}:{at(251)} `batch_size=8`"),
            Setting(
                "lr",
                1e-3,
                f"{script}:{at(228)} `optimizer='adam'` (Keras' default 1e-3; the Adam(0.001) "
                f"at :{at(238)} is unused)",
            ),
            Setting(
                "schedule",
                "constant",
                f"{script}:{at(239)}-{at(248)} callbacks: checkpoint, TensorBoard, metrics, no schedule",
            ),
            Setting("loss", "weighted_ce", f"{script}:66-73, {at(227)} weighted CE"),
            Setting("class_weights", WCE, f"{script}:{at(226)} `class_weights = {WCE}`"),
            Setting(
                "augment",
                None,
                f"{script}:85-96 each frame read, resized and stacked; no augmentation",
            ),
        ),
        deviations=_ICIP_DEVIATIONS,
    )


ICIP_RECIPES = (
    _icip("casme2", "ME_model.py", 30, 0.5),
    _icip("samm", "SAMM/ME_model.py", 30, 0.3, shift=-1),
    _icip("smic", "SMIC/ME_model.py", 10, 0.3),
)

_EXT_DEVIATIONS = (
    "the reference repeats each label over the output steps and scores the first step "
    "(Dual-Branch 3DCNN+AU.py:39); here one prediction per clip",
    "the reference normalises with the mean and max of ALL clips, test subjects included "
    "(:309-315); input raw here fits the mean on each training fold",
    "the reference keys subjects and AU codes by file name (:254, :327); here by clip id",
    "the reference reports each subject's best TEST epoch; this recipe evaluates the last "
    "epoch; --select oracle-per-subject reproduces the reference's selection (labelled "
    "optimistic) and every run reports it beside",
    "the reference crops AU regions from the full-resolution frame with landmarks detected on "
    "every selected frame (:170-196); merprep crop-au crops the stored face frames",
)


def _ext(
    dataset: str,
    script: str,
    store: tuple[str, str],
    lines: dict[str, str],
    settings: tuple[Setting, ...],
    extra_deviations: tuple[str, ...] = (),
) -> NamedRecipe:
    """``lines``: where the script reads raw frames (``raw``), its image size (``size``) and
    its LOSO loop (``loso``)."""
    return NamedRecipe(
        name=f"icip2024-ext-{dataset}",
        model="dual3dcnn-au-msmh",
        description=f"ICIP 2024 extended version (section B), {script}",
        reference=f"{EXT} {script}",
        settings=(
            Setting("store", store[0], f"{script}:{store[1]}"),
            Setting("preset", dataset, f"{script} (the dataset's script)"),
            Setting("input", "raw", f"{script}:{lines['raw']} raw RGB frames, mean subtracted"),
            Setting("protocol", "loso", f"{script}:{lines['loso']} `LeaveOneGroupOut()`"),
            Setting(
                "size", 128, f"{script}:{lines['size']} `image_rows, image_columns = 128, 128`"
            ),
            *settings,
        ),
        deviations=_EXT_DEVIATIONS + extra_deviations,
    )


ROOT = "Dual-Branch 3DCNN+AU.py"
SAMM = "SAMM/Dual-Branch 3DCNN+AU.py"
SMIC = "SMIC/Dual-Branch 3DCNN+AU.py"
CASME3 = "CAS(ME)3/Dual-Branch 3DCNN+AU.py"
LIE = "lie detection/Dual-Branch 3DCNN.py"

EXT_RECIPES = (
    _ext(
        "casme2",
        ROOT,
        (
            "the 30 frames of 0..OffsetFrame-2 with the largest summed grey difference to the "
            "next frame, each kept as the FIRST of its pair, in temporal order",
            "150-161 `top_indices = np.argsort(frame_diffs)[-30:]`",
        ),
        {"raw": "309-311", "size": "236", "loso": "352-353"},
        (
            Setting("task", "3class", f"{ROOT}:291-293 labels negative/positive/surprise"),
            Setting("frames", 30, f"{ROOT}:236 `image_depth = 30`"),
            Setting("model.pool", 3, f"{ROOT}:371,376,382 `MaxPooling3D((3, 3, 3))`"),
            Setting("model.merge_filters", 64, f"{ROOT}:380 `Conv3D(64, (3, 3, 3))`"),
            Setting("model.dropout", 0.5, f"{ROOT}:386,389 `Dropout(0.5)`"),
            Setting(
                "model.au_branch", True, f"{ROOT}:408 `Model(inputs=[input_layer, input_layer2]`"
            ),
            Setting("model.temporal_attention", "msmh", f"{ROOT}:394-398 MSMH(512, 2..256)"),
            Setting("model.channel_combine", "ec", "attention.py:28 `sigmoid(0.5*(max - avg))`"),
            Setting("epochs", 200, f"{ROOT}:442-443 `epochs=200`"),
            Setting("batch_size", 8, f"{ROOT}:442-443 `batch_size=8`"),
            Setting("lr", 1e-3, f"{ROOT}:411 `optimizer='adam'` (Keras' default 1e-3)"),
            Setting("schedule", "step:0.9:40", f"{ROOT}:420-424 `if epoch % 40 == 0: lr * 0.9`"),
            Setting("loss", "weighted_ce", f"{ROOT}:73-81, 410 weighted CE"),
            Setting("class_weights", WCE, f"{ROOT}:409 `class_weights = {WCE}`"),
            Setting(
                "augment", None, f"{ROOT}:164-169 frames read, resized, stacked; no augmentation"
            ),
        ),
    ),
    _ext(
        "samm",
        SAMM,
        ("30 frames evenly spaced over the whole video", "97 `np.linspace(0, total - 1, 30)`"),
        {"raw": "230-232", "size": "172", "loso": "273-274"},
        (
            Setting("task", "3class", f"{SAMM}:212-214 labels negative/positive/surprise"),
            Setting("frames", 30, f"{SAMM}:172 `image_depth = 30`"),
            Setting("model.pool", 3, f"{SAMM}:292,299,307 `MaxPooling3D((3, 3, 3))`"),
            Setting("model.merge_filters", 64, f"{SAMM}:305 `Conv3D(64, (3, 3, 3))`"),
            Setting("model.dropout", 0.3, f"{SAMM}:311,314 `Dropout(0.3)`"),
            Setting(
                "model.au_branch", True, f"{SAMM}:330 `Model(inputs=[input_layer, input_layer2]`"
            ),
            Setting(
                "model.channel_combine", "ec", "SAMM/attention.py:28 `sigmoid(0.5*(max - avg))`"
            ),
            Setting("epochs", 200, f"{SAMM}:364-365 `epochs=200`"),
            Setting("batch_size", 8, f"{SAMM}:364-365 `batch_size=8`"),
            Setting("lr", 1e-3, f"{SAMM}:333 `optimizer='adam'` (Keras' default 1e-3)"),
            Setting("schedule", "step:0.9:40", f"{SAMM}:341-345 `if epoch % 40 == 0: lr * 0.9`"),
            Setting("loss", "weighted_ce", f"{SAMM}:332 weighted CE"),
            Setting("class_weights", WCE, f"{SAMM}:331 `class_weights = {WCE}`"),
            Setting(
                "augment", None, f"{SAMM}:100-104 frames read, resized, stacked; no augmentation"
            ),
        ),
    ),
    _ext(
        "smic",
        SMIC,
        ("the first 10 frames of each clip", "86 `framerange = [x + 0 for x in range(10)]`"),
        {"raw": "199-201", "size": "152", "loso": "243-244"},
        (
            Setting("task", "3class", f"{SMIC}:181-183 labels negative/positive/surprise"),
            Setting("frames", 10, f"{SMIC}:152 `image_depth = 10`"),
            Setting("model.pool", 3, f"{SMIC}:262,266,271 `MaxPooling3D((3, 3, 3))`"),
            Setting("model.merge_filters", 32, f"{SMIC}:269 `Conv3D(32, (3, 3, 3))`"),
            Setting("model.dropout", 0.3, f"{SMIC}:275,278 `Dropout(0.3)`"),
            Setting(
                "model.au_branch",
                False,
                f"{SMIC}:264,297 both branches read `input_layer`; `Model(inputs=input_layer`",
            ),
            Setting(
                "model.channel_combine",
                "sum",
                "SMIC/attention.py:28-29 EC line commented out; "
                "`sigmoid(channel_attention_max + channel_attention_avg)`",
            ),
            Setting("epochs", 200, f"{SMIC}:348 `epochs=200`"),
            Setting("batch_size", 8, f"{SMIC}:348 `batch_size=8`"),
            Setting("lr", 1e-3, f"{SMIC}:300 `optimizer='adam'` (Keras' default 1e-3)"),
            Setting("schedule", "step:0.9:40", f"{SMIC}:327-331 `if epoch % 40 == 0: lr * 0.9`"),
            Setting("loss", "weighted_ce", f"{SMIC}:299 weighted CE"),
            Setting("class_weights", WCE, f"{SMIC}:298 `class_weights = {WCE}`"),
            Setting(
                "augment", None, f"{SMIC}:89-93 frames read, resized, stacked; no augmentation"
            ),
        ),
        (
            "the reference groups SMIC subjects by the column ME_Type of its spotting sheet "
            "(SMIC/...:217), which cannot be checked; here by subject id",
        ),
    ),
    _ext(
        "casme3",
        CASME3,
        (
            "the 30 frames of the whole video with the largest summed grey difference to the "
            "next frame, each kept as the FIRST of its pair, in temporal order",
            "109-117 `top_indices = np.argsort(frame_diffs)[-30:]`",
        ),
        {"raw": "260-262", "size": "195", "loso": "303-304"},
        (
            Setting("task", "3class", f"{CASME3}:241-243 labels negative/positive/surprise"),
            Setting("frames", 30, f"{CASME3}:195 `image_depth = 30`"),
            Setting("model.pool", 2, f"{CASME3}:322,327,333 `MaxPooling3D((2, 2, 2))`"),
            Setting("model.merge_filters", 64, f"{CASME3}:331 `Conv3D(64, (3, 3, 3))`"),
            Setting("model.dropout", 0.5, f"{CASME3}:337,340 `Dropout(0.5)`"),
            Setting("model.head_dropout", 0.3, f"{CASME3}:354,357 `Dropout(0.3)` in the head"),
            Setting(
                "model.au_branch", True, f"{CASME3}:360 `Model(inputs=[input_layer, input_layer2]`"
            ),
            Setting(
                "model.channel_combine", "ec", "CAS(ME)3/attention.py:28 `sigmoid(0.5*(max - avg))`"
            ),
            Setting("epochs", 100, f"{CASME3}:394-395 `epochs=100`"),
            Setting("batch_size", 8, f"{CASME3}:394-395 `batch_size=8`"),
            Setting("lr", 1e-3, f"{CASME3}:363 `optimizer='adam'` (Keras' default 1e-3)"),
            Setting("schedule", "step:0.9:20", f"{CASME3}:372-376 `if epoch % 20 == 0: lr * 0.9`"),
            Setting("loss", "weighted_ce", f"{CASME3}:362 weighted CE"),
            Setting("class_weights", WCE, f"{CASME3}:361 `class_weights = {WCE}`"),
            Setting(
                "augment", None, f"{CASME3}:122-127 frames read, resized, stacked; no augmentation"
            ),
        ),
    ),
    _ext(
        "deception",
        LIE,
        ("frames 5 to 20 of each clip (16 frames)", "106,153 `[x + 5 for x in range(16)]`"),
        {"raw": "217-219", "size": "80", "loso": "263-264"},
        (
            Setting("task", "deception", f"{LIE}:202-203 labels lie 0 / truth 1"),
            Setting("frames", 16, f"{LIE}:80 `image_depth = 16`"),
            Setting("model.pool", 3, f"{LIE}:283,287,292 `MaxPooling3D((3, 3, 3))`"),
            Setting("model.merge_filters", 32, f"{LIE}:290 `Conv3D(32, (3, 3, 3))`"),
            Setting("model.dropout", 0.3, f"{LIE}:299,302,305 `Dropout(0.3)`"),
            Setting("model.dropout_after_embed", True, f"{LIE}:305 `Dropout(0.3)` before the GRU"),
            Setting("model.embed_l2", 0.03, f"{LIE}:300,303 `kernel_regularizer=l2(0.03)`"),
            Setting("model.l2", 0.01, "lie detection/attention.py:10,16 `l2(0.01)` (attention)"),
            Setting(
                "model.causal_mh_heads",
                4,
                f"{LIE}:313-317 `MultiHeadAttention(num_heads=4, key_dim=512)`, causal, "
                "MaxPooling1D(10), concatenated with MSMH",
            ),
            Setting("model.pre_head_dropout", 0.3, f"{LIE}:318 `Dropout(0.3)` after the concat"),
            Setting("model.head_dropout", 0.3, f"{LIE}:321,324 `Dropout(0.3)` in the head"),
            Setting(
                "model.au_branch",
                False,
                f"{LIE}:215 the second input is filled with the face frames "
                "(`training_set2[h] = trainingframes[h]`)",
            ),
            Setting("model.channel_combine", "ec", "lie detection/attention.py:28 EC-CBAM"),
            Setting("epochs", 100, f"{LIE}:354-356 `epochs=100`"),
            Setting("batch_size", 8, f"{LIE}:354-356 `batch_size=8`"),
            Setting("lr", 1e-3, f"{LIE}:330 `optimizer='adam'` (Keras' default 1e-3)"),
            Setting("schedule", "constant", f"{LIE}:344-350 callbacks: no schedule"),
            Setting("loss", "weighted_ce", f"{LIE}:329 weighted CE"),
            Setting("class_weights", [0.5, 0.5], f"{LIE}:328 `class_weights = [0.5, 0.5]`"),
            Setting(
                "augment", None, f"{LIE}:106-111 frames read, resized, stacked; no augmentation"
            ),
        ),
    ),
)
