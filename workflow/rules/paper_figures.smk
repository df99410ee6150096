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


rule attention_model:
    input:
        "resources/prepared/{dataset}.h5ad",
    output:
        "results/models/{dataset}/attentionae_sc_seed{seed}.pt",
    log:
        "logs/models/{dataset}/attentionae_sc_seed{seed}.log",
    conda:
        "../../envs/main.yaml"
    threads: config["threads"]
    params:
        method_params=lambda wc: json.dumps(
            config["method_params"].get("attentionae_sc", {}), sort_keys=True
        ),
    shell:
        "python -m scbench.attention_maps fit {input:q} --seed {wildcards.seed}"
        " --params {params.method_params:q} --threads {threads} --out {output:q}"
        " > {log:q} 2>&1"


rule figure_attention:
    input:
        prepared="resources/prepared/{dataset}.h5ad",
        model=f"results/models/{{dataset}}/attentionae_sc_seed{SEEDS[0]}.pt",
        record=f"results/runs/{{dataset}}/attentionae_sc/seed{SEEDS[0]}/record.json",
        labels=f"results/runs/{{dataset}}/attentionae_sc/seed{SEEDS[0]}/labels.tsv",
    output:
        tsv="results/tables/s5_attention_{dataset}.tsv",
        png=report(
            "results/figures/s5_attention_{dataset}.png",
            caption="../report/s5_attention.rst",
            category="Attention (S5)",
            subcategory="{dataset}",
        ),
        pdf="results/figures/s5_attention_{dataset}.pdf",
    log:
        "logs/figures/s5_attention_{dataset}.log",
    conda:
        "../../envs/main.yaml"
    params:
        run=lambda wc, input: os.path.dirname(input.record),
    shell:
        "python -m scbench.attention_maps plot {input.prepared:q} --model {input.model:q}"
        " --run {params.run:q} --out-tsv {output.tsv:q} --out-png {output.png:q}"
        " --out-pdf {output.pdf:q} > {log:q} 2>&1"


rule figure_rare_types:
    input:
        prepared="resources/prepared/{dataset}.h5ad",
        pca="resources/prepared/{dataset}.pca.npy",
        records=lambda wc: grid(
            "results/runs/{dataset}/{method}/seed{seed}/record.json",
            dataset=wc.dataset,
        ),
        labels=lambda wc: grid(
            "results/runs/{dataset}/{method}/seed{seed}/labels.tsv", dataset=wc.dataset
        ),
    output:
        tsv="results/tables/s10_rare_types_{dataset}.tsv",
        png=report(
            "results/figures/s10_rare_types_{dataset}.png",
            caption="../report/s10_rare_types.rst",
            category="Rare types (S10)",
            subcategory="{dataset}",
        ),
        pdf="results/figures/s10_rare_types_{dataset}.pdf",
    log:
        "logs/figures/s10_rare_types_{dataset}.log",
    conda:
        "../../envs/main.yaml"
    params:
        methods=METHOD_ORDER,
        seeds=",".join(map(str, SEEDS)),
    shell:
        "python -m scbench.rare_types {input.prepared:q} --pca {input.pca:q} --runs results/runs"
        " --methods {params.methods} --seeds {params.seeds} --out-tsv {output.tsv:q}"
        " --out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"


rule figure_umap_grid:
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
            "results/figures/fig3b_umap_grid_{dataset}.png",
            caption="../report/fig3b_umap_grid.rst",
            category="UMAP grids (Fig 3B, S3)",
            subcategory="{dataset}",
        ),
        pdf="results/figures/fig3b_umap_grid_{dataset}.pdf",
    log:
        "logs/figures/fig3b_umap_grid_{dataset}.log",
    conda:
        "../../envs/main.yaml"
    params:
        seed=SEEDS[0],
        methods=METHOD_ORDER,
    shell:
        "python -m scbench.umap_grid {input.prepared:q} --pca {input.pca:q} --runs results/runs"
        " --seed {params.seed} --methods {params.methods} --out-png {output.png:q}"
        " --out-pdf {output.pdf:q} > {log:q} 2>&1"


rule case_study:
    input:
        prepared="resources/prepared/{dataset}.h5ad",
        record=f"results/runs/{{dataset}}/attentionae_sc/seed{SEEDS[0]}/record.json",
        labels=f"results/runs/{{dataset}}/attentionae_sc/seed{SEEDS[0]}/labels.tsv",
        embedding=f"results/runs/{{dataset}}/attentionae_sc/seed{SEEDS[0]}/embedding.npy",
    output:
        overview=report(
            "results/case_study/{dataset}/overview.png",
            caption="../report/case_study.rst",
            category="Case study (Fig 6, S9)",
            subcategory="{dataset}",
        ),
        overview_pdf="results/case_study/{dataset}/overview.pdf",
        dotplot=report(
            "results/case_study/{dataset}/dotplot.png",
            caption="../report/case_study.rst",
            category="Case study (Fig 6, S9)",
            subcategory="{dataset}",
        ),
        dotplot_pdf="results/case_study/{dataset}/dotplot.pdf",
        subclusters=report(
            "results/case_study/{dataset}/subclusters.png",
            caption="../report/case_study.rst",
            category="Case study (Fig 6, S9)",
            subcategory="{dataset}",
        ),
        subclusters_pdf="results/case_study/{dataset}/subclusters.pdf",
        table="results/case_study/{dataset}/cluster_vs_type.tsv",
        markers="results/case_study/{dataset}/markers.tsv",
        subclusters_tsv="results/case_study/{dataset}/subclusters.tsv",
        degs="results/case_study/{dataset}/degs_between.tsv",
    log:
        "logs/case_study/{dataset}.log",
    conda:
        "../../envs/main.yaml"
    params:
        run=lambda wc, input: os.path.dirname(input.record),
        outdir="results/case_study/{dataset}",
        seed=SEEDS[0],
    shell:
        "python -m scbench.case_study {input.prepared:q} --run {params.run:q}"
        " --outdir {params.outdir:q} --seed {params.seed} > {log:q} 2>&1"


rule figures:
    input:
        final_outputs(),
        "results/tables/s3_training_time.md",
        "results/figures/fig3a_silhouette.pdf",
        expand(
            "results/figures/{name}_{dataset}.pdf",
            name=["fig3b_umap_grid", "fig4_distances", "s10_rare_types"],
            dataset=config["datasets"],
        ),
        expand(
            "results/case_study/{dataset}/overview.pdf",
            dataset=(
                config["datasets"] if "attentionae_sc" in config["methods"] else []
            ),
        ),
        # S5 (one model trained for it): the first dataset, when AttentionAE-sc runs
        expand(
            "results/figures/s5_attention_{dataset}.pdf",
            dataset=(
                config["datasets"][:1] if "attentionae_sc" in config["methods"] else []
            ),
        ),
