#!/usr/bin/env bash
# Snakemake runs this after creating the conda env of desc.yaml (same name, .post-deploy.sh).
# desc 2.1.1's metadata has an invalid requirement ("matplotlib (>=2.2pydot)") and asks for the
# full tensorflow, so it is installed without dependencies (they are pinned in desc.yaml).
set -euo pipefail
pip install --no-deps desc==2.1.1
