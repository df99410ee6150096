# Raw files (downloaded or mirrored, checksummed) -> one standard prepared .h5ad per dataset.


rule fetch:
    output:
        "resources/downloads/{dataset}/{file}",
    log:
        "logs/fetch/{dataset}/{file}.log",
    params:
        entry=registry_entry,
        mirror=MIRROR,
    retries: 2
    shell:
        "{PYTHON} -m scbench.datasets fetch --entry {params.entry:q} --out {output:q}"
        " --mirror {params.mirror:q} > {log:q} 2>&1"


rule prepare:
    input:
        raw_files,
    output:
        "resources/prepared/{dataset}.h5ad",
    log:
        "logs/prepare/{dataset}.log",
    params:
        spec=lambda wc: DATASETS[wc.dataset].to_json(),
    resources:
        mem_mb=8000,
    shell:
        "{PYTHON} -m scbench.datasets prepare --spec {params.spec:q} --raw {input:q}"
        " --out {output:q} > {log:q} 2>&1"


rule shared_pca:
    input:
        "resources/prepared/{dataset}.h5ad",
    output:
        "resources/prepared/{dataset}.pca.npy",
    log:
        "logs/shared_pca/{dataset}.log",
    shell:
        "{PYTHON} -m scbench.score pca {input:q} --out {output:q} > {log:q} 2>&1"
