# Figures mirroring the paper (Fig 2, S2, Fig 3B/S3, Fig 4A/S4) plus runtime and memory.


rule figure_ari:
    input:
        "results/tables/metrics.tsv",
    output:
        png=report(
            "results/figures/fig2_ari.png",
            caption="../report/fig2_ari.rst",
            category="Figures",
        ),
        pdf="results/figures/fig2_ari.pdf",
    log:
        "logs/figures/fig2_ari.log",
    conda:
        "../../envs/main.yaml"
    params:
        order=METHOD_ORDER,
    shell:
        "python -m scbench.figures bars {input:q} --metric ari --methods-order {params.order}"
        " --out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"


rule figure_s2:
    input:
        "results/tables/metrics.tsv",
    output:
        png=report(
            "results/figures/figS2_metrics.png",
            caption="../report/figS2_metrics.rst",
            category="Figures",
        ),
        pdf="results/figures/figS2_metrics.pdf",
    log:
        "logs/figures/figS2_metrics.log",
    conda:
        "../../envs/main.yaml"
    params:
        order=METHOD_ORDER,
    shell:
        "python -m scbench.figures s2 {input:q} --methods-order {params.order}"
        " --out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"


rule figure_cost:
    input:
        "results/tables/metrics.tsv",
    output:
        png=report(
            "results/figures/fig_cost.png",
            caption="../report/fig_cost.rst",
            category="Figures",
        ),
        pdf="results/figures/fig_cost.pdf",
    log:
        "logs/figures/fig_cost.log",
    conda:
        "../../envs/main.yaml"
    params:
        order=METHOD_ORDER,
    shell:
        "python -m scbench.figures cost {input:q} --methods-order {params.order}"
        " --out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"


rule figure_umap:
    input:
        prepared="resources/prepared/{dataset}.h5ad",
        pca="resources/prepared/{dataset}.pca.npy",
        records=lambda wc: grid(
            "results/runs/{dataset}/{method}/seed{seed}/record.json",
            dataset=wc.dataset,
            seed=SEEDS[0],
        ),
        labels=lambda wc: grid(
            "results/runs/{dataset}/{method}/seed{seed}/labels.tsv",
            dataset=wc.dataset,
            seed=SEEDS[0],
        ),
        embeddings=lambda wc: grid(
            "results/runs/{dataset}/{method}/seed{seed}/embedding.npy",
            dataset=wc.dataset,
            seed=SEEDS[0],
        ),
    output:
        png=report(
            "results/figures/umap_{dataset}.png",
            caption="../report/umap.rst",
            category="UMAPs",
            subcategory="{dataset}",
        ),
        pdf="results/figures/umap_{dataset}.pdf",
    log:
        "logs/figures/umap_{dataset}.log",
    conda:
        "../../envs/main.yaml"
    params:
        seed=SEEDS[0],
        order=METHOD_ORDER,
    shell:
        "python -m scbench.figures umaps {input.prepared:q} --records {input.records:q}"
        " --labels {input.labels:q} --embeddings {input.embeddings:q}"
        " --pca {input.pca:q} --methods-order {params.order}"
        " --seed {params.seed} --out-png {output.png:q} --out-pdf {output.pdf:q}"
        " > {log:q} 2>&1"


rule figure_clustering_stage:
    input:
        prepared="resources/prepared/{dataset}.h5ad",
        records=lambda wc: expand(
            "results/runs/{dataset}/{method}/seed{seed}/record.json",
            dataset=wc.dataset,
            method=ATTENTIONAE_ROWS,
            seed=SEEDS,
        ),
    output:
        tsv="results/tables/clustering_stage_{dataset}.tsv",
        png=report(
            "results/figures/clustering_stage_{dataset}.png",
            caption="../report/clustering_stage.rst",
            category="Clustering stage (Fig 4A, S4)",
            subcategory="{dataset}",
        ),
        pdf="results/figures/clustering_stage_{dataset}.pdf",
    log:
        "logs/figures/clustering_stage_{dataset}.log",
    conda:
        "../../envs/main.yaml"
    params:
        order=",".join(ATTENTIONAE_ROWS),
    shell:
        "python -m scbench.clustering_stage {input.prepared:q} --records {input.records:q}"
        " --methods-order {params.order} --out-tsv {output.tsv:q}"
        " --out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"
