# The paper's further figures and tables (issue 18): `snakemake figures` builds them with
# everything `all` makes; `snakemake figures --report report.html` puts them in the report.


localrules:
    figures,
    s3_training_time,


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


rule figures:
    input:
        final_outputs(),
        "results/tables/s3_training_time.md",
        "results/figures/fig3a_silhouette.pdf",
