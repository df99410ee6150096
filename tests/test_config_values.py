"""Config values from Snakemake's command line get the types a config file would give them."""

from scbench.config_values import typed


def test_numbers_and_booleans_are_converted_inside_dicts_and_lists():
    given = {"kmeans": {"n_init": "5", "tol": "1e-3", "ratio": "-.5", "scale": "true"},
             "seeds": ["0", "7"], "flag": "False"}
    assert typed(given) == {"kmeans": {"n_init": 5, "tol": 0.001, "ratio": -0.5, "scale": True},
                            "seeds": [0, 7], "flag": False}


def test_other_strings_and_typed_values_are_left_alone():
    given = {"ablation": "none", "path": "/data/1.h5ad", "sha": "1e5f" * 16, "nan": "nan",
             "n": 3, "x": 0.5, "on": True, "nothing": None}
    assert typed(given) == given
