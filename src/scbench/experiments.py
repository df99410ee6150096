"""The paper's experiments on AttentionAE-sc: sweeps (Fig 5A-D, S7), ablations (Fig 5E, S8) and
robustness to dropout and down-sampling (S6), expanded from the config's ``experiments`` section.

Each experiment is a list of *settings* of a method: parameter overrides (``heads-4``,
``ablation-no_zinb``) or a perturbation of the input (``dropout-0.2``,
``downsample-random-0.4``). A setting equal to the method's own defaults is ``base``, so one base
run per dataset x method x seed serves every experiment. Runs go through the method contract
(``scbench.methods.run``) and the scoring (``scbench.score``) like the main benchmark's.

    python -m scbench.experiments perturb --prepared P.h5ad --setting dropout-0.2 --seed S --out O
    python -m scbench.experiments summarise --name sweeps --spec JSON --method-params JSON \
        --scores S1.json ... --out-dir results/experiments/sweeps
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scbench.methods.attentionae_sc import TRAIN_MASK

EXPERIMENTS = ("sweeps", "ablations", "robustness")
#: obs column of a down-sampled dataset: the cells the method trains on (then predicts all).
TRAIN_COLUMN = "train_cell"
DOWNSAMPLE_BY = ("random", "stratified")
BASE = "base"


@dataclass(frozen=True)
class Setting:
    """One setting of a method in an experiment: ``factor`` at ``value`` (as text)."""

    method: str
    name: str  # directory name: "base", "heads-4", "dropout-0.2", "downsample-random-0.4"
    factor: str  # "base", a parameter name, "dropout", "downsample-random|stratified"
    value: str
    overrides: dict[str, Any] = field(default_factory=dict)
    perturbation: str | None = None  # the setting's name when the input is perturbed
    uses_labels: bool = False  # stratified down-sampling chooses cells by their true type


@dataclass(frozen=True)
class PlannedRun:
    """One run of an experiment: a setting of a method on a dataset with a seed."""

    experiment: str
    dataset: str
    seed: int
    setting: Setting


def _text(value: Any) -> str:
    """A grid value as it appears in setting names and tables (``true``, ``0.1``, ``umap``)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def method_defaults(method: str, method_params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a run of ``method`` gets when a setting changes nothing."""
    from scbench.methods.params import accepted_params

    return {**accepted_params(method), **method_params.get(method, {})}


def _parameter_setting(method: str, factor: str, value: Any,
                       defaults: Mapping[str, Any]) -> Setting:
    if factor not in defaults:
        raise ValueError(f"{method} has no parameter {factor!r}")
    if defaults[factor] == value and type(defaults[factor]) is type(value):
        return Setting(method, BASE, factor, _text(value))
    return Setting(method, f"{factor}-{_text(value)}", factor, _text(value), {factor: value})


def _perturbed_setting(method: str, factor: str, fraction: float) -> Setting:
    name = f"{factor}-{_text(fraction)}"
    overrides = {TRAIN_MASK: TRAIN_COLUMN} if factor.startswith("downsample") else {}
    return Setting(method, name, factor, _text(fraction), overrides, name,
                   factor == "downsample-stratified")


def settings(name: str, spec: Mapping[str, Any], method_params: Mapping[str, Any]
             ) -> list[Setting]:
    """The settings of experiment ``name`` (``sweeps``, ``ablations`` or ``robustness``), with
    the base setting of each method first. Raises ``ValueError`` for a grid the method cannot
    take."""
    from scbench.methods.params import check_params
    from scbench.methods.registry import METHODS

    methods = spec.get("methods", [spec.get("method", "attentionae_sc")])
    out: list[Setting] = []
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"experiments.{name}: unknown method {method!r}")
        defaults = method_defaults(method, method_params)
        own = [Setting(method, BASE, BASE, "default")]
        if name == "sweeps":
            grid = [(factor, value) for factor, values in spec["grid"].items()
                    for value in values]
        elif name == "ablations":
            grid = [("ablation", value) for value in spec["conditions"]]
        else:
            grid = []
        for factor, value in grid:
            if factor in dict(METHODS[method].preset):
                raise ValueError(f"experiments.{name}: {method} fixes {factor}; choose "
                                 "another method or factor")
            setting = _parameter_setting(method, factor, value, defaults)
            check_params(method, {**method_params.get(method, {}), **setting.overrides})
            own.append(setting)
        if name == "robustness":
            own += [_perturbed_setting(method, "dropout", f) for f in spec.get("dropout", [])]
            down = [_perturbed_setting(method, f"downsample-{by}", f)
                    for by in spec.get("downsample_by", DOWNSAMPLE_BY)
                    for f in spec.get("downsample", [])]
            # a method can train on some cells and predict the rest if it takes a train mask
            if down and TRAIN_MASK not in defaults:
                raise ValueError(f"experiments.robustness: down-sampling needs a method that "
                                 f"predicts cells it was not trained on; {method} cannot")
            own += down
        unique: dict[str, Setting] = {}
        for setting in own:  # a grid level equal to the default is the base run: first wins
            unique.setdefault(setting.name, setting)
        out += unique.values()
    return out


def plan(name: str, spec: Mapping[str, Any], method_params: Mapping[str, Any]
         ) -> list[PlannedRun]:
    """Every run of experiment ``name``: its datasets x settings x seeds."""
    return [PlannedRun(name, dataset, seed, setting)
            for dataset in spec["datasets"]
            for setting in settings(name, spec, method_params)
            for seed in spec["seeds"]]


def unique_settings(experiments: Mapping[str, Any], method_params: Mapping[str, Any]
                    ) -> dict[tuple[str, str], Setting]:
    """(method, setting name) -> setting, over all experiments. Raises ``ValueError`` if one
    name would mean two settings."""
    out: dict[tuple[str, str], Setting] = {}
    for name, spec in experiments.items():
        for setting in settings(name, spec, method_params):
            known = out.setdefault((setting.method, setting.name), setting)
            if known.overrides != setting.overrides:
                raise ValueError(f"setting {setting.name!r} of {setting.method} is ambiguous")
    return out


# ------------------------------------------------------------------ perturbations
def drop_counts(x, fraction: float, rng: np.random.Generator):
    """A copy of the count matrix ``x`` (dense or scipy sparse) with ``round(fraction * nnz)``
    of its non-zero entries, chosen at random, set to zero. Shape and dtype are kept."""
    import scipy.sparse as sp

    if not 0 <= fraction < 1:
        raise ValueError(f"dropout fraction must be in [0, 1), got {fraction}")
    if sp.issparse(x):
        out = sp.csr_matrix(x, copy=True)
        out.eliminate_zeros()
        values = out.data
    else:
        out = np.array(x, copy=True)
        values = out.reshape(-1)
    nonzero = np.flatnonzero(values)
    values[rng.choice(nonzero, size=round(fraction * nonzero.size), replace=False)] = 0
    if sp.issparse(out):
        out.eliminate_zeros()
    return out


def training_mask(n_cells: int, fraction: float, rng: np.random.Generator,
                  labels: Sequence[Any] | None = None) -> np.ndarray:
    """Boolean mask of ``round(fraction * n_cells)`` cells chosen at random, or, with
    ``labels`` (stratified), ``fraction`` of each type (at least one cell of each)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"down-sampling fraction must be in (0, 1], got {fraction}")
    mask = np.zeros(n_cells, dtype=bool)
    if labels is None:
        mask[rng.choice(n_cells, size=max(1, round(fraction * n_cells)), replace=False)] = True
        return mask
    labels = np.asarray(labels)
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        size = max(1, round(fraction * members.size))
        mask[rng.choice(members, size=size, replace=False)] = True
    return mask


def perturb(adata, setting: str, seed: int):
    """A copy of the prepared ``adata`` perturbed as the setting name says
    (``dropout-F`` or ``downsample-random|stratified-F``), seeded by ``seed``."""
    from scbench.catalog import LABEL_KEY

    kind, *rest = setting.split("-")
    rng = np.random.default_rng(seed)
    out = adata.copy()
    if kind == "dropout" and len(rest) == 1:
        out.X = drop_counts(adata.X, float(rest[0]), rng)
    elif kind == "downsample" and len(rest) == 2 and rest[0] in DOWNSAMPLE_BY:  # mode, fraction
        labels = adata.obs[LABEL_KEY].to_numpy() if rest[0] == "stratified" else None
        out.obs[TRAIN_COLUMN] = training_mask(adata.n_obs, float(rest[1]), rng, labels)
    else:
        raise ValueError(f"not a perturbation: {setting!r}")
    return out


# ------------------------------------------------------------------ results
RUN_COLUMNS = ["experiment", "factor", "value", "dataset", "method", "setting", "seed",
               "uses_labels", "status", "reason", "ari", "nmi", "asw", "db", "n_clusters",
               "n_unassigned", "n_training_cells", "runtime_s"]


def score_path(dataset: str, method: str, setting: str, seed: int) -> str:
    """Where the workflow writes the score record of one experiment run."""
    return f"results/experiments/scores/{dataset}/{method}/{setting}/seed{seed}.json"


#: The level of each perturbation that the base run stands for.
UNPERTURBED = {"dropout": "0", "downsample-random": "1", "downsample-stratified": "1"}


def factor_levels(runs: Sequence[PlannedRun], method_params: Mapping[str, Any]
                  ) -> dict[tuple[str, str], str]:
    """(method, factor) -> the level that the method's base run stands for in that factor."""
    out = {}
    for run in runs:
        method, factor = run.setting.method, run.setting.factor
        if factor != BASE and (method, factor) not in out:
            out[method, factor] = UNPERTURBED.get(factor) or _text(
                method_defaults(method, method_params)[factor])
    return out


def runs_table(runs: Sequence[PlannedRun], scores: Mapping[str, Mapping[str, Any]],
               method_params: Mapping[str, Any]):
    """One row per planned run (``RUN_COLUMNS``) from the score records by :func:`score_path`;
    a base run appears once in each factor of its method, at the level it stands for."""
    import pandas as pd

    levels = factor_levels(runs, method_params)
    rows = []
    for run in runs:
        s = run.setting
        record = scores[score_path(run.dataset, s.method, s.name, run.seed)]
        values = {k: record.get(k) for k in RUN_COLUMNS}
        values.update(experiment=run.experiment, dataset=run.dataset, method=s.method,
                      setting=s.name, seed=run.seed, uses_labels=s.uses_labels,
                      n_training_cells=(record.get("extra") or {}).get("n_training_cells"))
        if s.factor != BASE:
            rows.append({**values, "factor": s.factor, "value": s.value})
            continue
        own = [(f, level) for (m, f), level in levels.items() if m == s.method]
        for factor, level in own or [(BASE, s.value)]:
            rows.append({**values, "factor": factor, "value": level})
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


TITLES = {"sweeps": "Hyper-parameter sweeps (Fig 5A-D, S7 Fig)",
          "ablations": "Ablations (Fig 5E, S8 Fig)",
          "robustness": "Robustness to dropout and down-sampling (S6 Fig)"}
FIGURE_METRICS = {"sweeps": ("ari", "nmi"), "ablations": ("ari", "nmi", "asw", "db"),
                  "robustness": ("ari", "nmi")}


def summarise(name: str, spec: Mapping[str, Any], method_params: Mapping[str, Any],
              score_files: Sequence[str | Path], out_dir: str | Path) -> None:
    """Write the runs table, summary and figure of experiment ``name`` from its score files,
    which must be exactly the planned runs' (by :func:`score_path`)."""
    from scbench.experiment_figures import write_outputs

    runs = plan(name, spec, method_params)
    expected = {score_path(r.dataset, r.setting.method, r.setting.name, r.seed) for r in runs}
    given = {Path(p).as_posix(): p for p in score_files}
    missing, extra = expected - set(given), set(given) - expected
    if missing or extra:
        raise ValueError(f"experiment {name}: score files do not match its plan "
                         f"(missing {sorted(missing)[:3]}, unexpected {sorted(extra)[:3]})")
    scores = {path: json.loads(Path(given[path]).read_text()) for path in expected}
    write_outputs(runs_table(runs, scores, method_params), out_dir, TITLES[name],
                  FIGURE_METRICS[name])


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m scbench.experiments perturb|summarise ...``."""
    import anndata as ad

    from scbench.files import atomic_path

    parser = argparse.ArgumentParser(prog="python -m scbench.experiments")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("perturb", help="a perturbed copy of a prepared dataset")
    cmd.add_argument("--prepared", required=True)
    cmd.add_argument("--setting", required=True, help="dropout-F or downsample-MODE-F")
    cmd.add_argument("--seed", type=int, required=True)
    cmd.add_argument("--out", required=True)
    cmd = sub.add_parser("summarise", help="runs table, summary and figure of an experiment")
    cmd.add_argument("--name", required=True, choices=EXPERIMENTS)
    cmd.add_argument("--spec", required=True, help="the experiment's config section, JSON")
    cmd.add_argument("--method-params", default="{}", help="config method_params, JSON")
    cmd.add_argument("--scores", nargs="+", required=True)
    cmd.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    if args.command == "perturb":
        out = perturb(ad.read_h5ad(args.prepared), args.setting, args.seed)
        with atomic_path(args.out) as tmp:
            out.write_h5ad(tmp)
        return 0
    summarise(args.name, json.loads(args.spec), json.loads(args.method_params), args.scores,
              args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
