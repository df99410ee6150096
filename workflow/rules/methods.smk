# One run per dataset x method x seed, in the method's own environment.
# The runner always writes record.json (status ok, failed with the reason, or unavailable),
# labels.tsv and embedding.npy (empty when the run has none; the record says which).
# A run whose process is killed (out of memory, segfault) or still running near its `runtime`
# is retried with more memory and time; after the last attempt run_method.sh records it as failed.

RUN_ATTEMPTS = 3
RUN_SCRIPT = Path(workflow.basedir) / "workflow" / "scripts" / "run_method.sh"


rule build_env:
    input:
        lambda wc: requirement_files(wc.env),
    output:
        "resources/envs/{env}/ready",
    log:
        "logs/envs/{env}.log",
    conda:
        "../../envs/main.yaml"
    shell:
        "python -m scbench.envs build {wildcards.env} resources/envs/{wildcards.env}"
        " > {log:q} 2>&1"


rule run_method:
    input:
        unpack(method_env_inputs),
    output:
        record="results/runs/{dataset}/{method}/seed{seed}/record.json",
        labels="results/runs/{dataset}/{method}/seed{seed}/labels.tsv",
        embedding="results/runs/{dataset}/{method}/seed{seed}/embedding.npy",
    log:
        "logs/runs/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/{method}/seed{seed}.tsv"
    retries: RUN_ATTEMPTS - 1
    conda:
        method_conda_env
    threads: method_threads
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
        gpu=lambda wc: int(
            METHODS[wc.method].gpu
            and not METHODS[wc.method].unavailable
            and config["device"] != "cpu"
        ),
        attempt=lambda wc, attempt: attempt,
    params:
        script=RUN_SCRIPT,
        attempts=RUN_ATTEMPTS,
        time_limit_s=run_time_limit_s,
        python=method_python,
        method_params=method_params,
        device=config["device"],
        outdir=lambda wc, output: Path(output.record).parent,
    shell:
        "bash {params.script:q} {params.python} {resources.attempt} {params.attempts}"
        " {params.time_limit_s} {log:q}"
        " -- --method {wildcards.method} --input {input.prepared:q} --seed {wildcards.seed}"
        " --outdir {params.outdir:q} --threads {threads} --device {params.device}"
        " --params {params.method_params:q}"
