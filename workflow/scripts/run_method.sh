#!/usr/bin/env bash
# Run one method (python -m scbench.methods.run) with its log. A method that raises already gets a
# `failed` record from the runner; this covers a process that is stopped before it can write one:
# killed (out of memory, segfault), or still running at TIME_LIMIT_S, when it gets SIGTERM (and
# SIGKILL 30 s later). On an early attempt the job fails, so Snakemake retries it with more memory
# and time; on the last attempt a `failed` record naming the signal or the time limit is written
# instead, so the run becomes a row of the results rather than a hole that stops the aggregation.
# The workflow sets TIME_LIMIT_S below the job's `runtime`, so that on SLURM the record is written
# before the scheduler's own limit cancels the job. 0 means no limit.
#
# usage: run_method.sh PYTHON ATTEMPT ATTEMPTS TIME_LIMIT_S LOG -- ARGUMENTS OF scbench.methods.run
set -uo pipefail
python_bin=$1 attempt=$2 attempts=$3 time_limit=$4 log=$5
shift 6
timeout --kill-after=30 "$time_limit" "$python_bin" -m scbench.methods.run "$@" > "$log" 2>&1
code=$?
if [ "$code" -eq 137 ] && [ "$time_limit" -gt 0 ] && [ "$SECONDS" -ge "$time_limit" ]; then
    code=124  # timeout's code: SIGTERM did not stop the run at the limit, SIGKILL did
fi
if [ "$code" -eq 124 ]; then
    stopped="stopped at the time limit of $time_limit s"
elif [ "$code" -gt 128 ]; then
    stopped="killed (exit code $code)"
fi
if [ -z "${stopped:-}" ] || [ "$attempt" -lt "$attempts" ]; then
    exit "$code"
fi
echo "run_method.sh: $stopped on attempt $attempt of $attempts" >> "$log"
exec "$python_bin" -m scbench.methods.run "$@" --crashed "$code" >> "$log" 2>&1
