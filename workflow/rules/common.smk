# Config validation, the dataset x method x seed grid, and input functions.
import json
import os
import sys
from pathlib import Path

from snakemake.utils import validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

from scbench.aggregate import EXTRA_METRICS
from scbench.catalog import load_registry, resolve
from scbench.config_values import typed
from scbench.envs import MAIN as MAIN_ENV, requirement_files, run_env
from scbench.experiments import EXPERIMENTS, plan, score_path, unique_settings
from scbench.methods.params import check_params
from scbench.methods.registry import METHODS

# `--config 'seeds=[0,1,2]'` on the command line gives strings; so do nested method
# parameters and custom dataset entries. The schema and the methods want numbers and booleans.
for key in ("seeds", "method_params", "custom_datasets", "experiments"):
    if key in config:
        config[key] = typed(config[key])
validate(config, schema="../../config/schema/config.schema.yaml", set_default=True)


envvars:
    "PATH",


# Jobs call `python -m ...`: the interpreter that runs Snakemake (the project environment).
# With --software-deployment-method conda, each rule's conda env comes first on PATH instead.
os.environ["PATH"] = os.pathsep.join(
    [str(Path(sys.executable).parent), os.environ["PATH"]]
)
os.environ.update(SCBENCH_DATA_MIRROR=config["data_mirror"])
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
if USE_CONDA:
    # The conda environments do not install this project: jobs import it from the source
    # tree (Snakemake passes PYTHONPATH on with --conda-not-block-search-path-envvars).
    os.environ.update(PYTHONPATH=str(Path(workflow.basedir) / "src"))


def _check_names(kind, chosen, known):
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise ValueError(
            f"config '{kind}': unknown {kind} {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )


def _dataset_specs():
    registry = load_registry(config["registry"])
    known = {*registry, *config["simulations"], *config["custom_datasets"]}
    names = {*config["datasets"]}
    for spec in config["experiments"].values():
        names.update(spec["datasets"])
    _check_names("datasets", sorted(names), known)
    specs = {name: resolve(name, registry, config) for name in sorted(names)}
    unavailable = {n: s.unavailable for n, s in specs.items() if s.unavailable}
    if unavailable:
        raise ValueError(f"config 'datasets': not downloadable: {unavailable}")
    return specs


DATASETS = _dataset_specs()
_check_names("methods", config["methods"], METHODS)
_check_names("method_params", config["method_params"], METHODS)


def _check_method_params():
    """Each method's parameters against what its module accepts, before any job runs."""
    for method, params in config["method_params"].items():
        try:
            check_params(method, params)
        except ValueError as error:
            raise ValueError(f"config 'method_params': {error}") from None


_check_method_params()


def _experiment_settings():
    """(method, setting name) -> setting, over the configured experiments."""
    try:
        return unique_settings(config["experiments"], config["method_params"])
    except ValueError as error:
        raise ValueError(f"config 'experiments': {error}") from None


EXPERIMENT_SETTINGS = _experiment_settings()
METHOD_ORDER = ",".join(config["methods"])  # order of methods in tables and figures
# The AttentionAE-sc rows (default, paper start, authors' code): their clustering stage is plotted.
ATTENTIONAE_ROWS = [
    m
    for m in config["methods"]
    if METHODS[m].module == "scbench.methods.attentionae_sc"
]
SEEDS = config["seeds"]


# Quick jobs that read many small files run where Snakemake runs, not as cluster jobs; so do
# downloads and environment builds, which need the internet (often absent on compute nodes)
# and share one build lock (in the local temporary directory).
localrules:
    fetch,
    build_env,
    aggregate,
    figure_ari,
    figure_s2,
    figure_cost,
    experiment_summary,


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_]+",
    seed="[0-9]+",
    env="[A-Za-z0-9_-]+",
    setting="[A-Za-z0-9_.-]+",
    perturbation="[A-Za-z0-9_.-]+",
    experiment="|".join(EXPERIMENTS),


def local_name(name):
    """Registry file name as stored under resources/downloads (no spaces)."""
    return name.replace(" ", "_")


def registry_entry(wildcards):
    """The registry's entry of one raw file, as JSON for the fetch CLI."""
    files = DATASETS[wildcards.dataset].files
    entry = next(f for f in files if local_name(f["name"]) == wildcards.file)
    return json.dumps(entry)


def raw_files(wildcards):
    """The raw input files of a dataset, in registry order."""
    spec = DATASETS[wildcards.dataset]
    if spec.kind == "custom":
        return [f["path"] for f in spec.files]
    return [
        f"resources/downloads/{spec.name}/{local_name(f['name'])}" for f in spec.files
    ]


def own_venv(method):
    """Whether ``method`` runs in a virtual environment built by the build_env rule."""
    return run_env(method) != MAIN_ENV and not USE_CONDA


def experiment_setting(wildcards):
    """The setting of an experiment run (wildcards method and setting)."""
    return EXPERIMENT_SETTINGS[wildcards.method, wildcards.setting]


def method_input(wildcards):
    """The dataset a run reads: prepared, or perturbed as its experiment setting says."""
    setting = experiment_setting(wildcards) if "setting" in wildcards.keys() else None
    if setting and setting.perturbation:
        return (
            f"resources/perturbed/{wildcards.dataset}/{setting.perturbation}/"
            f"seed{wildcards.seed}.h5ad"
        )
    return f"resources/prepared/{wildcards.dataset}.h5ad"


def method_env_inputs(wildcards):
    """The run's input dataset, plus the method's own virtual environment if it has one."""
    inputs = {"prepared": method_input(wildcards)}
    if own_venv(wildcards.method):
        inputs["env"] = f"resources/envs/{run_env(wildcards.method)}/ready"
    return inputs


def method_python(wildcards):
    """Python interpreter of the method's environment."""
    if own_venv(wildcards.method):
        return f"resources/envs/{run_env(wildcards.method)}/bin/python"
    return "python"


def method_conda_env(wildcards):
    """The method's conda environment file (for --software-deployment-method conda)."""
    return f"../../envs/{run_env(wildcards.method)}.yaml"


def method_threads(wildcards):
    """``config["threads"]`` for methods that use several threads, 1 for the rest."""
    return config["threads"] if METHODS[wildcards.method].multithreaded else 1


def method_params(wildcards):
    """The method's config parameters, with an experiment setting's overrides."""
    params = dict(config["method_params"].get(wildcards.method, {}))
    if "setting" in wildcards.keys():
        params.update(experiment_setting(wildcards).overrides)
    return json.dumps(params, sort_keys=True)


def run_time_limit_s(wildcards, resources):
    """When run_method.sh stops a run (s): 2 minutes before its ``runtime`` (min), so that
    its record is written before a scheduler's own time limit cancels the job."""
    return max(60, int(resources.runtime) * 60 - 120)


def grid(pattern, **fixed):
    """Expand ``pattern`` over the configured datasets, methods and seeds."""
    values = {"dataset": config["datasets"], "method": config["methods"], "seed": SEEDS}
    values.update({key: [value] for key, value in fixed.items()})
    return expand(pattern, **values)


FIGURES = ["fig2_ari", "figS2_metrics", "fig_cost"]


def summary_tables():
    """The aggregate rule's summary tables: ARI, then one per further metric (the other
    scores, runtime, peak memory, clusters found), as TSV/MD/TeX."""
    names = ["summary"] + [f"summary_{metric}" for metric in EXTRA_METRICS]
    return expand("results/tables/{name}.{ext}", name=names, ext=["tsv", "md", "tex"])


def final_outputs():
    tables = summary_tables()
    figures = expand("results/figures/{name}.{ext}", name=FIGURES, ext=["png", "pdf"])
    umaps = expand(
        "results/figures/umap_{dataset}.{ext}",
        dataset=config["datasets"],
        ext=["png", "pdf"],
    )
    stages = expand(
        "results/figures/clustering_stage_{dataset}.{ext}",
        dataset=config["datasets"] if ATTENTIONAE_ROWS else [],
        ext=["png", "pdf"],
    )
    return ["results/tables/metrics.tsv", *tables, *figures, *umaps, *stages]


def experiment_spec(name):
    """The config section of experiment ``name``; a clear error when it is not configured."""
    if name not in config["experiments"]:
        raise ValueError(
            f"the config has no experiments.{name}: add it, or use"
            " --configfile config/experiments-quick.yaml (or config/paper.yaml)"
        )
    return config["experiments"][name]


def experiment_scores(wildcards):
    """The score files of every planned run of one experiment."""
    spec = experiment_spec(wildcards.experiment)
    return [
        score_path(run.dataset, run.setting.method, run.setting.name, run.seed)
        for run in plan(wildcards.experiment, spec, config["method_params"])
    ]


def experiment_outputs(*names):
    """The runs table, summary and figure of the named experiments."""
    for name in names:
        experiment_spec(name)
    return expand(
        "results/experiments/{experiment}/{file}",
        experiment=names,
        file=["runs.tsv", "summary.tsv", "summary.md", "figure.png", "figure.pdf"],
    )
