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


rule figures:
    input:
        final_outputs(),
        "results/tables/s3_training_time.md",
