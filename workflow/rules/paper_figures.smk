# The paper's further figures and tables (issue 18): `snakemake figures` builds them with
# everything `all` makes; `snakemake figures --report report.html` puts them in the report.


localrules:
    figures,
    s3_training_time,


# the runs whose embeddings the distance maps show (when configured)
ATTENTIONAE_SPACES = ["attentionae_sc", "attentionae_sc_dae"]


rule s3_training_time:
    input:
        "results/tables/metrics.tsv",
    output:
        tsv=report(
            "results/tables/s3_training_time.tsv",
            caption="../report/s3_training_time.rst",
            category="Tables",
        ),
        md="results/tables/s3_training_time.md",
    log:
        "logs/figures/s3_training_time.log",
    conda:
        "../../envs/main.yaml"
    params:
        order=METHOD_ORDER,
    shell:
        "python -m scbench.training_time {input:q} --methods-order {params.order}"
        " --out-tsv {output.tsv:q} --out-md {output.md:q} > {log:q} 2>&1"


rule figure_silhouette:
    input:
        metrics="results/tables/metrics.tsv",
        records=grid("results/runs/{dataset}/{method}/seed{seed}/record.json"),
        labels=grid("results/runs/{dataset}/{method}/seed{seed}/labels.tsv"),
        prepared=expand("resources/prepared/{dataset}.h5ad", dataset=config["datasets"]),
        pca=expand("resources/prepared/{dataset}.pca.npy", dataset=config["datasets"]),
    output:
        tsv="results/tables/fig3a_silhouette.tsv",
        png=report(
            "results/figures/fig3a_silhouette.png",
            caption="../report/fig3a_silhouette.rst",
            category="Figures",
        ),
        pdf="results/figures/fig3a_silhouette.pdf",
    log:
        "logs/figures/fig3a_silhouette.log",
    conda:
        "../../envs/main.yaml"
    params:
        order=METHOD_ORDER,
    shell:
        "python -m scbench.silhouette {input.metrics:q} --runs results/runs"
        " --prepared resources/prepared --methods-order {params.order}"
        " --out-tsv {output.tsv:q} --out-png {output.png:q} --out-pdf {output.pdf:q}"
        " > {log:q} 2>&1"


rule figure_distance_maps:
    input:
        prepared="resources/prepared/{dataset}.h5ad",
        records=expand(
            "results/runs/{{dataset}}/{method}/seed{seed}/record.json",
            method=[m for m in ATTENTIONAE_SPACES if m in config["methods"]],
            seed=SEEDS[0],
        ),
        embeddings=expand(
            "results/runs/{{dataset}}/{method}/seed{seed}/embedding.npy",
            method=[m for m in ATTENTIONAE_SPACES if m in config["methods"]],
            seed=SEEDS[0],
        ),
    output:
        tsv="results/tables/fig4_distances_{dataset}.tsv",
        png=report(
            "results/figures/fig4_distances_{dataset}.png",
            caption="../report/fig4_distances.rst",
            category="Embeddings (Fig 4B-E)",
            subcategory="{dataset}",
        ),
        pdf="results/figures/fig4_distances_{dataset}.pdf",
    log:
        "logs/figures/fig4_distances_{dataset}.log",
    conda:
        "../../envs/main.yaml"
    params:
        seed=SEEDS[0],
        methods=METHOD_ORDER,
    shell:
        "python -m scbench.distance_maps {input.prepared:q} --runs results/runs"
        " --seed {params.seed} --methods {params.methods} --out-tsv {output.tsv:q}"
        " --out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"


rule figures:
    input:
        final_outputs(),
        "results/tables/s3_training_time.md",
        "results/figures/fig3a_silhouette.pdf",
        expand(
            "results/figures/fig4_distances_{dataset}.pdf", dataset=config["datasets"]
        ),
