# Score every run, then aggregate into metrics.tsv and the summary tables.


rule score_run:
    input:
        record="results/runs/{dataset}/{method}/seed{seed}/record.json",
        labels="results/runs/{dataset}/{method}/seed{seed}/labels.tsv",
        embedding="results/runs/{dataset}/{method}/seed{seed}/embedding.npy",
        prepared="resources/prepared/{dataset}.h5ad",
        pca="resources/prepared/{dataset}.pca.npy",
    output:
        "results/scores/{dataset}/{method}/seed{seed}.json",
    log:
        "logs/scores/{dataset}/{method}/seed{seed}.log",
    conda:
        "../../envs/main.yaml"
    shell:
        "python -m scbench.score run --record {input.record:q} --labels {input.labels:q}"
        " --embedding {input.embedding:q} --prepared {input.prepared:q} --pca {input.pca:q}"
        " --dataset {wildcards.dataset} --out {output:q} > {log:q} 2>&1"


rule aggregate:
    input:
        scores=grid("results/scores/{dataset}/{method}/seed{seed}.json"),
        benchmarks=grid("results/benchmarks/{dataset}/{method}/seed{seed}.tsv"),
    output:
        metrics=report(
            "results/tables/metrics.tsv",
            caption="../report/metrics.rst",
            category="Tables",
        ),
        summaries=summary_tables(),
    log:
        "logs/aggregate.log",
    conda:
        "../../envs/main.yaml"
    params:
        order=METHOD_ORDER,
        extra=",".join(EXTRA_METRICS),
    shell:
        "python -m scbench.aggregate --scores {input.scores:q}"
        " --benchmarks {input.benchmarks:q} --methods-order {params.order}"
        " --out-metrics {output.metrics:q} --out-summary-prefix results/tables/summary"
        " --extra-metrics {params.extra}"
        " > {log:q} 2>&1"
