#!/usr/bin/env bash
# Run one method (python -m scbench.methods.run) with its log. A method that raises already gets a
# `failed` record from the runner; this covers a process that is killed before it can write one
# (out of memory, segfault): on an early attempt the job fails, so Snakemake retries it with more
# memory and time; on the last attempt a `failed` record naming the signal is written instead, so
# the run becomes a row of the results rather than a hole that stops the aggregation.
#
# usage: run_method.sh PYTHON ATTEMPT ATTEMPTS LOG -- ARGUMENTS OF scbench.methods.run
set -uo pipefail
python_bin=$1 attempt=$2 attempts=$3 log=$4
shift 5
"$python_bin" -m scbench.methods.run "$@" > "$log" 2>&1
code=$?
if [ "$code" -le 128 ] || [ "$attempt" -lt "$attempts" ]; then
    exit "$code"
fi
echo "run_method.sh: killed (exit code $code) on attempt $attempt of $attempts" >> "$log"
exec "$python_bin" -m scbench.methods.run "$@" --crashed "$code" >> "$log" 2>&1
