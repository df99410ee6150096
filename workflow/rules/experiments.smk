# The paper's experiments on AttentionAE-sc (config `experiments`, scbench.experiments):
# sweeps, ablations and robustness. Each setting runs through the method contract and the
# scoring of the main benchmark; a setting equal to the method's defaults is the shared `base`.


rule perturb:
    input:
        "resources/prepared/{dataset}.h5ad",
    output:
        "resources/perturbed/{dataset}/{perturbation}/seed{seed}.h5ad",
    log:
        "logs/perturbed/{dataset}/{perturbation}/seed{seed}.log",
    conda:
        "../../envs/main.yaml"
    shell:
        "python -m scbench.experiments perturb --prepared {input:q}"
        " --setting {wildcards.perturbation} --seed {wildcards.seed} --out {output:q}"
        " > {log:q} 2>&1"


use rule run_method as run_experiment with:
    output:
        record="results/experiments/runs/{dataset}/{method}/{setting}/seed{seed}/record.json",
        labels="results/experiments/runs/{dataset}/{method}/{setting}/seed{seed}/labels.tsv",
        embedding="results/experiments/runs/{dataset}/{method}/{setting}/seed{seed}/embedding.npy",
    log:
        "logs/experiments/runs/{dataset}/{method}/{setting}/seed{seed}.log",
    benchmark:
        "results/experiments/benchmarks/{dataset}/{method}/{setting}/seed{seed}.tsv"


use rule score_run as score_experiment with:
    input:
        record="results/experiments/runs/{dataset}/{method}/{setting}/seed{seed}/record.json",
        labels="results/experiments/runs/{dataset}/{method}/{setting}/seed{seed}/labels.tsv",
        embedding="results/experiments/runs/{dataset}/{method}/{setting}/seed{seed}/embedding.npy",
        prepared="resources/prepared/{dataset}.h5ad",
        pca="resources/prepared/{dataset}.pca.npy",
    output:
        "results/experiments/scores/{dataset}/{method}/{setting}/seed{seed}.json",
    log:
        "logs/experiments/scores/{dataset}/{method}/{setting}/seed{seed}.log",


rule experiment_summary:
    input:
        experiment_scores,
    output:
        runs="results/experiments/{experiment}/runs.tsv",
        summary=multiext("results/experiments/{experiment}/summary", ".tsv", ".md"),
        figure=report(
            multiext("results/experiments/{experiment}/figure", ".png", ".pdf"),
            caption="../report/experiments.rst",
            category="Experiments",
            subcategory="{experiment}",
        ),
    log:
        "logs/experiments/{experiment}.log",
    conda:
        "../../envs/main.yaml"
    params:
        spec=lambda wc: json.dumps(config["experiments"][wc.experiment]),
        method_params=json.dumps(config["method_params"]),
        out_dir=lambda wc: f"results/experiments/{wc.experiment}",
    shell:
        "python -m scbench.experiments summarise --name {wildcards.experiment}"
        " --spec {params.spec:q} --method-params {params.method_params:q}"
        " --scores {input:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule sweeps:
    input:
        lambda wc: experiment_outputs("sweeps"),


rule ablations:
    input:
        lambda wc: experiment_outputs("ablations"),


rule robustness:
    input:
        lambda wc: experiment_outputs("robustness"),


rule paper_experiments:
    input:
        lambda wc: experiment_outputs(*(config["experiments"] or EXPERIMENTS)),
