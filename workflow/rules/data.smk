# Raw files (downloaded or mirrored, checksummed) -> one standard prepared .h5ad per dataset.


# The mirror reaches the job as SCBENCH_DATA_MIRROR (set in common.smk), not as a param:
# where a checksummed file came from must not make every downstream job re-run.
rule fetch:
    output:
        "resources/downloads/{dataset}/{file}",
    log:
        "logs/fetch/{dataset}/{file}.log",
    conda:
        "../../envs/main.yaml"
    params:
        entry=registry_entry,
    shell:
        "python -m scbench.datasets fetch --entry {params.entry:q} --out {output:q}"
        " > {log:q} 2>&1"


rule prepare:
    input:
        raw_files,
    output:
        "resources/prepared/{dataset}.h5ad",
    log:
        "logs/prepare/{dataset}.log",
    conda:
        "../../envs/main.yaml"
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
    params:
        spec=lambda wc: DATASETS[wc.dataset].to_json(),
    shell:
        "python -m scbench.datasets prepare --spec {params.spec:q} --raw {input:q}"
        " --out {output:q} > {log:q} 2>&1"


rule shared_pca:
    input:
        "resources/prepared/{dataset}.h5ad",
    output:
        "resources/prepared/{dataset}.pca.npy",
    log:
        "logs/shared_pca/{dataset}.log",
    conda:
        "../../envs/main.yaml"
    shell:
        "python -m scbench.score pca {input:q} --out {output:q} > {log:q} 2>&1"
