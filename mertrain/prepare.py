"""Preparing a run: every check before any training, then the clips read once.

:func:`prepare` resolves the model (registry, preset, architecture changes), the recipe (once,
:func:`mertrain.recipe.resolve_recipe`), the split, and refuses any combination that cannot
work (a store lacking what the model reads, a loss option the model cannot take, inner-val on a
one-subject fold, ...) before the run directory exists. The :class:`Prepared` run then gives
the fold context, each fold's job, and the run's record for config.json.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from merprep.frames.sampling import require_stored_onset
from merprep.stages import SOURCES
from mertrain import __version__
from mertrain.config import RunConfig, RunError
from mertrain.data import ClipArrays, StoreCollection, load_arrays
from mertrain.fold_inputs import augmentable_inputs
from mertrain.folds import FoldContext, FoldJob, fold_seed
from mertrain.inference.record import base_record, input_records
from mertrain.inference.storeparams import combine, store_params
from mertrain.models.registry import ModelConfig, ModelSpec, get_model
from mertrain.protocols import (
    ProtocolError,
    Sample,
    Splits,
    build_splits,
    check_against,
    get_task,
    inner_validation_subjects,
    parse_fold_selection,
)
from mertrain.protocols.megc2019 import official_samples
from mertrain.protocols.splits import FINAL as FINAL_PROTOCOL
from mertrain.protocols.splits import labelled_samples
from mertrain.recipe import BALANCED, Plateau, Recipe, RecipeError, describe_loss, resolve_recipe
from mertrain.resampling import describe as describe_resampling
from mertrain.resampling import store_resampling
from mertrain.runrecord import RunRecord

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A run that has passed every check, with its clips read: ready to train."""

    config: RunConfig
    spec: ModelSpec
    model_config: ModelConfig
    recipe: Recipe
    splits: Splits
    samples: dict[str, Sample]
    data: ClipArrays
    stores: list[dict[str, Any]]
    #: each store's parameters as a saved model records them (mertrain.inference.storeparams)
    store_params: list[dict[str, Any]] = field(default_factory=list)

    def model_record(self) -> dict[str, Any]:
        """What every fold's saved model records beside its weights (preprocessing.json; the
        trainer adds the fold's normalisation, seed and subjects)."""
        c = self.config
        common, varied = combine(self.store_params)
        return base_record(
            model=self.spec.name,
            kind=self.spec.kind,
            architecture=self.model_config.to_dict(),
            task=c.data.task,
            classes=self.splits.classes,
            inputs=input_records(self.spec, self.model_config),
            store_params=common,
            store_params_varied=varied,
            stores=self.stores,
            run_identity_sha256=self.record().identity_sha256,
            protocol=self.splits.protocol,
            select=c.recipe.select,
            run_seed=c.recipe.seed,
            batch_size=self.recipe.batch_size if self.spec.kind == "keras" else None,
            precision=c.runtime.precision,
            deterministic=c.runtime.deterministic,
        )

    def context(self) -> FoldContext:
        c = self.config
        return FoldContext(
            model=self.spec.name,
            model_config=self.model_config,
            recipe=self.recipe,
            classes=tuple(self.splits.classes),
            data=c.data,
            training=c.recipe,
            runtime=c.runtime,
            execution=c.execution,
            model_record=self.model_record(),
        )

    def describe(self) -> dict[str, Any]:
        """The recipe in words (config.json ``recipe_description``; printed by ``mertrain
        run``)."""
        c, r = self.config, self.recipe
        if self.spec.kind == "sklearn":
            return {
                "estimator": self.spec.description,
                "fit": "once per fold on its training clips (no epochs, no optimizer)",
                "seed": c.recipe.seed,
            }
        schedule = r.schedule.spec
        if isinstance(r.schedule, Plateau):
            schedule += (
                " on the inner-validation loss"
                if c.recipe.select == "inner-val"
                else " on the training loss"
            )
        weights = r.loss.class_weights
        out: dict[str, Any] = {
            "optimizer": "adam",
            "lr": r.lr,
            "lr_schedule": schedule,
            "epochs": r.epochs,
            "batch_size": r.batch_size,
            "loss": r.loss.name,
            "class_weights": (
                "n/(K n_c) from each fold's training clips"
                if weights == BALANCED
                else None
                if weights is None
                else list(weights)
            ),
        }
        if r.loss.kind == "logit_adjusted":
            out["logit_adjust_tau"] = r.loss.tau
        if r.loss.kind == "focal":
            out["focal_gamma"] = r.loss.gamma
        out["augment"] = c.recipe.augment
        if c.recipe.augment is not None:
            out["augmented_inputs"] = list(augmentable_inputs(self.spec, self.model_config))
        out["precision"] = c.runtime.precision
        out["jit"] = "auto" if c.runtime.jit is None else c.runtime.jit
        return out

    def recipe_line(self) -> str:
        """One line: how this run trains (printed before training starts)."""
        d = self.describe()
        if self.spec.kind == "sklearn":
            return f"recipe: {self.spec.name} fitted once per fold (scikit-learn), seed {d['seed']}"
        aug = (
            "none"
            if d["augment"] is None
            else "on ("
            + ", ".join(
                f"{k} {v}"
                for k, v in d["augment"].items()
                if k in ("flip_prob", "max_translate", "max_rotate", "noise_std", "brightness")
            )
            + ")"
        )
        precision = d["precision"]
        if precision != "float32":
            from mertrain.fitting import resolve_precision  # heavy: Keras (asks for a GPU)

            policy = resolve_precision(precision)
            precision += f" ({policy})" if policy != "float32" else " (float32: no GPU)"
        return (
            f"recipe: adam lr {d['lr']:g}, schedule {d['lr_schedule']}, {d['epochs']} "
            f"epochs x batch {d['batch_size']}, loss {describe_loss(self.recipe.loss)}, "
            f"augment {aug}, precision {precision}, jit {d['jit']}"
        )

    def plan_line(self) -> str:
        """One line: how much training this call does (folds, clips, epochs)."""
        folds = parse_fold_selection(self.config.execution.folds, len(self.splits.folds))
        train = [len(self.splits.folds[i].train) for i in folds]
        mean = sum(train) / max(1, len(train))
        epochs = "" if self.spec.kind == "sklearn" else f", {self.recipe.epochs} epochs each"
        return (
            f"plan: {len(folds)} of {len(self.splits.folds)} fold(s) of protocol "
            f"{self.splits.protocol}, {len(self.data.clip_ids)} clips, about {mean:.0f} "
            f"training clips per fold{epochs} (folds already in the run directory are kept "
            "with --resume)"
        )

    def job(self, index: int) -> FoldJob:
        """Fold ``index`` as row indices; inner-validation subjects drawn from its training
        subjects only."""
        fold = self.splits.folds[index]
        seed = fold_seed(self.config.recipe.seed, fold.name)
        train_ids = list(fold.train)
        val_subjects: list[str] = []
        val_ids: list[str] = []
        if self.config.recipe.select == "inner-val":
            subjects = [self.samples[c].subject_id for c in train_ids]
            val_subjects = inner_validation_subjects(
                subjects, self.config.recipe.val_fraction, seed
            )
            chosen = set(val_subjects)
            val_ids = [c for c in train_ids if self.samples[c].subject_id in chosen]
            train_ids = [c for c in train_ids if self.samples[c].subject_id not in chosen]
        return FoldJob(
            index,
            fold.name,
            seed,
            self.data.rows(train_ids),
            self.data.rows(fold.test),
            self.data.rows(val_ids),
            tuple(val_subjects),
        )

    def record(self, command: str | None = None) -> RunRecord:
        """What config.json holds."""
        return RunRecord(
            self.config,
            self.spec.name,
            self.model_config.to_dict(),
            self.recipe,
            self.stores,
            self.describe(),
            command,
            versions(),
        )


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"mertrain": __version__, "python": platform.python_version()}
    for pkg in ("tensorflow", "keras", "numpy", "scikit-learn", "h5py"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def splits_for(
    config: RunConfig, records: Sequence[Mapping[str, Any]]
) -> tuple[list[Sample], Splits]:
    """The run's (samples, splits): built from the records, or a saved split checked against
    them (its protocol and task must be the run's)."""
    data = config.data
    task = get_task(data.task)
    if data.splits_file is None:
        return build_splits(
            records, data.protocol, task, test_subjects=list(data.test_subjects), k=data.k
        )
    splits = Splits.load(data.splits_file)
    if (splits.protocol, splits.task) != (data.protocol, data.task):
        raise ProtocolError(
            f"splits file is protocol {splits.protocol!r} task {splits.task!r}, "
            f"the run asks for {data.protocol!r} {data.task!r}",
            file=data.splits_file,
        )
    if splits.protocol == "megc2019":
        samples, _ = official_samples(records, task)
    else:
        samples = labelled_samples(records, task)
    try:
        check_against(splits, samples, task)
    except ProtocolError as exc:
        raise ProtocolError(exc.message, file=data.splits_file) from None
    return samples, splits


def resolve_model(config: RunConfig) -> tuple[ModelSpec, ModelConfig, Recipe]:
    """The model spec, its architecture configuration and its resolved recipe; RunError naming
    the field for every request the model cannot take."""
    try:
        spec = get_model(config.model.name)
    except ValueError as exc:
        raise RunError(f"model.name: {exc}") from None
    try:
        spec = spec.reading(config.model.read_from)
    except ValueError as exc:
        raise RunError(f"model.read_from: {exc}") from None
    rq = config.recipe
    if spec.kind == "sklearn":
        if rq.select != "last":
            raise RunError(
                f"model {spec.name!r} is not trained by epochs; recipe.select "
                f"{rq.select} does not apply (use last)"
            )
        used = [
            name
            for name, on in (
                ("recipe.augment", rq.augment is not None),
                ("runtime.precision", config.runtime.precision != "float32"),
                ("runtime.jit", config.runtime.jit is not None),
                ("recipe.schedule", rq.schedule is not None),
                ("recipe.loss", rq.loss is not None),
                ("recipe.epochs", rq.epochs is not None),
                ("recipe.lr", rq.lr is not None),
                ("recipe.batch_size", rq.batch_size is not None),
                ("recipe.balance", rq.balance),
                ("recipe.class_weights", rq.class_weights is not None),
            )
            if on
        ]
        if used:
            raise RunError(
                f"model {spec.name!r} is not trained by gradient descent; "
                f"{', '.join(used)} do(es) not apply"
            )
    try:
        model_config = spec.make_config(
            config.model.preset, **config.model.architecture_overrides()
        )
    except (TypeError, ValueError) as exc:
        raise RunError(f"model {spec.name!r}: {exc}") from None
    try:
        recipe = resolve_recipe(spec.recipe_for(config.model.preset), rq.request())
    except RecipeError as exc:
        raise RunError(f"model {spec.name!r}: recipe: {exc}") from None
    if rq.augment is not None and not augmentable_inputs(spec, model_config):
        raise RunError(
            f"model {spec.name!r} reads only optical-flow inputs, which are never "
            "augmented (a flip negates u, a rotation turns the vectors); drop "
            "recipe.augment"
        )
    return spec, model_config, recipe


def prepare(config: RunConfig, progress: bool | None = None, *, final: bool = False) -> Prepared:
    """Every check a run needs, then read the clips. Raises a :class:`MerprepError` (stores,
    protocol, model/store mismatch) before any training starts. ``final``: a final model on
    every subject (protocol ``all``, ``mertrain fit``), which has no test fold."""
    if (config.data.protocol == FINAL_PROTOCOL) != final:
        raise RunError(
            "data.protocol: protocol 'all' trains one final model on every subject and "
            "tests nothing; use `mertrain fit` for it"
            if not final
            else "data.protocol: a final model is trained with protocol 'all'"
        )
    if final and config.recipe.optimistic:
        raise RunError(
            f"recipe.select: {config.recipe.select} picks epochs on the test fold, and a final "
            "model has none; use last or inner-val"
        )
    spec, model_config, recipe = resolve_model(config)
    with StoreCollection(config.stores) as collection:
        samples, splits = splits_for(config, collection.records())
        weights = recipe.loss.class_weights
        if isinstance(weights, tuple) and len(weights) != len(splits.classes):
            raise RunError(
                f"model {spec.name!r}: class_weights has {len(weights)} entries for "
                f"the {len(splits.classes)} classes of task {config.data.task!r}"
            )
        by_id = {s.clip_id: s for s in samples}
        if config.recipe.select == "inner-val":
            for fold in splits.folds:
                if len({by_id[c].subject_id for c in fold.train}) < 2:
                    raise RunError(
                        f"fold {fold.name!r} trains on one subject; select "
                        "inner-val needs at least two"
                    )
        inputs = spec.required_inputs(model_config)
        collection.require({i.source for i in inputs}, spec.name)
        parse_fold_selection(config.execution.folds, len(splits.folds))  # a bad subset fails here
        used = sorted({c for f in splits.folds for c in (*f.test, *f.train)})
        if config.data.input == "onset-diff" and any(
            SOURCES[i.source].dtype == "uint8" for i in inputs
        ):  # each clip minus its stored frame 0, which must be the onset (issue 14)
            kept = set(used)
            require_stored_onset(
                [r for r in collection.records() if r["clip_id"] in kept],
                "--input onset-diff",
                alternative="; or train on the frames as stored with --input raw",
            )
        shapes = spec.input_shapes(model_config)
        resampled = []
        for store in collection.stores:
            plan = store_resampling(
                store,
                inputs,
                shapes,
                model=spec.name,
                clip_ids=[c for c in used if collection.store_of(c) is store],
            )
            if plan:
                log.warning("%s", describe_resampling(str(store.path), plan))
            resampled.append(plan)
        arrays = load_arrays(
            collection,
            used,
            spec.input_shapes(model_config),
            {i.name: i.source for i in inputs},
            progress,
        )
        stores = collection.describe({i.source for i in inputs})
        stages_read = {SOURCES[i.source].stage for i in inputs} - {"extract"}
        params = [store_params(s, stages_read) for s in collection.stores]
    for entry, plan in zip(stores, resampled):
        entry["resampled"] = plan
    data = ClipArrays(
        used,
        arrays,
        np.array([by_id[c].label for c in used], dtype=np.int64),
        [by_id[c].dataset for c in used],
        [by_id[c].subject_id for c in used],
    )
    return Prepared(config, spec, model_config, recipe, splits, by_id, data, stores, params)
