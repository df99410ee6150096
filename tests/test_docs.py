"""The docs match the repository: the README's local links, config/README.md and the schema."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import yaml

from attentionae_sc.simulation import simulate_counts
from scbench import config_docs

REPO = Path(__file__).resolve().parents[1]


def test_readme_local_links_exist():
    text = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)\)", text)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert local, "the README links no local file"
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing, f"README links missing files: {missing}"


def test_config_readme_is_current_and_every_config_key_is_described():
    assert (REPO / "config" / "README.md").read_text() == config_docs.render(), (
        "config/README.md is out of date: run python -m scbench.config_docs")
    schema = yaml.safe_load(config_docs.SCHEMA.read_text())
    nodes = [schema["properties"]] + [schema["properties"][key]["additionalProperties"][
        "properties"] for key in ("simulations", "custom_datasets")]
    undescribed = [key for node in nodes for key, spec in node.items()
                   if not spec.get("description")]
    assert not undescribed, f"schema keys without a description: {undescribed}"


def test_simulation_keys_of_the_schema_are_the_simulators_arguments():
    schema = yaml.safe_load(config_docs.SCHEMA.read_text())
    entry = schema["properties"]["simulations"]["additionalProperties"]
    assert entry["additionalProperties"] is False
    assert set(entry["properties"]) == set(inspect.signature(simulate_counts).parameters)
