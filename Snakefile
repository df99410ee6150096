# AttentionAE-sc clustering benchmark: datasets -> methods x seeds -> scores -> tables, figures.
# Quick start: `snakemake --cores 2` (offline simulated suite, config/config.yaml).
# Paper grid: `snakemake --cores N --configfile config/paper.yaml`.
# The paper's experiments: targets sweeps, ablations, robustness and paper_experiments.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/methods.smk"
include: "workflow/rules/scores.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/paper_figures.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
