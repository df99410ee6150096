"""The method registry: one :class:`MethodSpec` per clustering method, keyed by its config name.

Adding a method = one module in ``scbench.methods`` exposing ``run`` (see :class:`MethodOutput`),
one entry in :data:`METHODS`, and (unless it runs in the project env) ``envs/<env>.yaml`` plus
``envs/pip/<env>.txt``.

Standard library only: the runner imports this inside every method environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Implementation = Literal["original", "reimplementation", "control"]


@dataclass(frozen=True)
class MethodSpec:
    """Metadata of one clustering method.

    ``needs_k``: the method is given the true number of cell types (starred in tables, as in the
    paper). ``env``: ``"main"`` (the project venv) or the name of ``envs/<env>.yaml`` and
    ``envs/pip/<env>.txt``. ``module``: the module implementing ``run``; ``None`` with
    ``unavailable`` set for registered-but-not-implemented methods, whose runs are recorded with
    ``status="unavailable"`` and that reason. ``multithreaded``: the method uses more than one
    CPU thread (torch, TensorFlow, parallel kNN); the workflow gives it ``config["threads"]``
    and every other method one thread, so single-threaded runs go side by side. ``source``: for
    a re-implementation, the repository and commit its facts (defaults, layer sizes,
    preprocessing) were read from; its deviations are listed in its module docstring.
    ``preset``: parameters this row always passes to its module (several rows can share one
    module, e.g. the AttentionAE-sc variants); a config may not override them.
    """

    name: str
    display_name: str
    reference: str
    needs_k: bool
    gpu: bool
    env: str
    implementation: Implementation
    module: str | None
    unavailable: str | None = None
    multithreaded: bool = False
    source: str | None = None
    preset: tuple[tuple[str, Any], ...] = ()

    @property
    def original(self) -> bool:
        """True when the benchmark runs the authors' own implementation."""
        return self.implementation == "original"


def unassigned_mask(labels: Any, unassigned_label: Any) -> Any:
    """Boolean array: which cells carry the method's declared ``unassigned_label`` (compared as
    text, as ``labels.tsv`` stores labels); all False when the method declared none."""
    import numpy as np  # here: this module is standard library only at import

    labels = np.asarray(labels)
    if unassigned_label is None:
        return np.zeros(len(labels), dtype=bool)
    return labels.astype(str) == str(unassigned_label)


@dataclass
class MethodOutput:
    """What a method's ``run`` returns.

    ``labels``: one label per cell (ints or strings), in ``adata.obs_names`` order. NaN/None are
    never allowed; a method that leaves some cells unassigned must use a sentinel label and name
    it in ``extra["unassigned_label"]`` (e.g. PhenoGraph's -1 for cells in tiny clusters).
    ``embedding``: an n_obs x d float array (or ``None``), finite except on the rows of
    unassigned cells. Scoring counts unassigned cells as one group of their own for ARI/NMI and
    leaves them out of the silhouette and Davies-Bouldin. ``extra``: JSON-serialisable details
    (resolved settings, versions of non-Python tools, ...) that end up in the run record.
    """

    labels: Any
    embedding: Any = None
    extra: dict = field(default_factory=dict)


_SCANPY = "Wolf, Angerer & Theis, Genome Biol 2018, doi:10.1186/s13059-017-1382-0 (scanpy)"

_ATTENTIONAE = ("Li et al., Attention-based deep clustering method for scRNA-seq data, "
                "PLoS Comput Biol 2023, doi:10.1371/journal.pcbi.1011641")



def _attentionae_row(name: str, display_name: str, variant: str, note: str,
                     *preset: tuple[str, Any]) -> MethodSpec:
    """One AttentionAE-sc row: the shared module with its ``variant`` (and other) preset."""
    return MethodSpec(
        name=name, display_name=display_name, reference=f"{_ATTENTIONAE}; {note}",
        needs_k=False, gpu=True, env="main", implementation="reimplementation",
        module="scbench.methods.attentionae_sc", multithreaded=True,
        source="github.com/LiShenghao813/AttentionAE-sc@8bfbbb8",
        preset=(("variant", variant), *preset),
    )



METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in [
        _attentionae_row("attentionae_sc", "AttentionAE-sc", "default",
                         "default: Leiden start chosen by the silhouette of Z"),
        _attentionae_row("attentionae_sc_paper", "AttentionAE-sc (paper start)", "paper",
                         "as the paper: Leiden start at resolution 1.0, DEC"),
        _attentionae_row("attentionae_sc_reference", "AttentionAE-sc (authors' code)", "reference",
                         "as the authors' code where it departs from the paper"),
        _attentionae_row("attentionae_sc_dae", "ZINB DAE (no GAE, no attention)", "default",
                         "the plain DAE of the paper's S6 Fig", ("ablation", "dae")),
        MethodSpec(
            name="leiden",
            display_name="Leiden (scanpy)",
            reference="Traag, Waltman & van Eck, Sci Rep 2019, doi:10.1038/s41598-019-41695-z; "
            + _SCANPY,
            needs_k=False, gpu=False, env="main", implementation="original",
            module="scbench.methods.leiden",
        ),
        MethodSpec(
            name="louvain",
            display_name="Louvain (scanpy)",
            reference="Blondel et al., J Stat Mech 2008, doi:10.1088/1742-5468/2008/10/P10008; "
            + _SCANPY,
            needs_k=False, gpu=False, env="main", implementation="original",
            module="scbench.methods.louvain",
        ),
        MethodSpec(
            name="kmeans",
            display_name="K-means (PCA)",
            reference="Lloyd, IEEE Trans Inf Theory 1982, doi:10.1109/TIT.1982.1056489; "
            "scikit-learn KMeans on the scanpy PCA",
            needs_k=True, gpu=False, env="main", implementation="original",
            module="scbench.methods.kmeans",
        ),
        MethodSpec(
            name="phenograph",
            display_name="PhenoGraph",
            reference="Levine et al., Cell 2015, doi:10.1016/j.cell.2015.05.047",
            needs_k=False, gpu=False, env="phenograph", implementation="original",
            module="scbench.methods.phenograph", multithreaded=True,
        ),
        MethodSpec(
            name="scvi",
            display_name="scvi-tools",
            reference="Lopez et al., Nat Methods 2018, doi:10.1038/s41592-018-0229-2; "
            "Gayoso et al., Nat Biotechnol 2022, doi:10.1038/s41587-021-01206-w",
            needs_k=False, gpu=True, env="scvi", implementation="original",
            module="scbench.methods.scvi", multithreaded=True,
        ),
        MethodSpec(
            name="desc",
            display_name="DESC",
            reference="Li et al., Nat Commun 2020, doi:10.1038/s41467-020-15851-3",
            needs_k=False, gpu=False, env="desc", implementation="original",
            module="scbench.methods.desc", multithreaded=True,
        ),
        MethodSpec(
            name="seurat",
            display_name="Seurat",
            reference="Hao et al., Cell 2021, doi:10.1016/j.cell.2021.04.048 (Seurat v4)",
            needs_k=False, gpu=False, env="seurat", implementation="original",
            module="scbench.methods.seurat",
        ),
        MethodSpec(
            name="random_labels",
            display_name="Random labels",
            reference="control: uniform random labels over the true number of types (floor)",
            needs_k=True, gpu=False, env="main", implementation="control",
            module="scbench.methods.random_labels",
        ),
        MethodSpec(
            name="true_labels",
            display_name="True labels",
            reference="control: the annotated cell types (ceiling)",
            needs_k=False, gpu=False, env="main", implementation="control",
            module="scbench.methods.true_labels",
        ),
        MethodSpec(
            name="sc3",
            display_name="SC3 (re-impl.)",
            reference="Kiselev et al., SC3: consensus clustering of single-cell RNA-seq data, "
            "Nat Methods 2017, doi:10.1038/nmeth.4236 (k from its Tracy-Widom estimate)",
            needs_k=False, gpu=False, env="main", implementation="reimplementation",
            module="scbench.methods.sc3",
            source="github.com/hemberg-lab/SC3@5f5161b",
        ),
        MethodSpec(
            name="sc3s",
            display_name="SC3s",
            reference="Quah & Hemberg, SC3s: efficient scaling of single cell consensus clustering "
            "to millions of cells, BMC Bioinformatics 2022, "
            "doi:10.1186/s12859-022-05085-z (PyPI sc3s 0.1.1)",
            needs_k=True, gpu=False, env="sc3s", implementation="original",
            module="scbench.methods.sc3s",
        ),
        MethodSpec(
            name="scgnn",
            display_name="scGNN (re-impl.)",
            reference="Wang et al., scGNN is a novel graph neural network framework for "
            "single-cell RNA-Seq analyses, Nat Commun 2021, doi:10.1038/s41467-021-22197-x",
            needs_k=False, gpu=True, env="main", implementation="reimplementation",
            module="scbench.methods.scgnn", multithreaded=True,
            source="github.com/juexinwang/scGNN@09ac50ba0a2bbf87535613a2d284872074804d02",
        ),
        MethodSpec(
            name="scgac",
            display_name="scGAC (re-impl.)",
            reference="Cheng & Ma, scGAC: a graph attentional architecture for clustering "
            "single-cell RNA-seq data, Bioinformatics 2022, doi:10.1093/bioinformatics/btac099",
            needs_k=True, gpu=True, env="main", implementation="reimplementation",
            module="scbench.methods.scgac", multithreaded=True,
            source="github.com/Joye9285/scGAC@893909a7e46e0ed2e52fd1800f2c1606c4cf447a",
        ),
        MethodSpec(
            name="graph_sc",
            display_name="graph-sc (re-impl.)",
            reference="Ciortan & Defrance, GNN-based embedding for clustering scRNA-seq data, "
            "Bioinformatics 2022, doi:10.1093/bioinformatics/btab787",
            needs_k=False, gpu=True, env="main", implementation="reimplementation",
            module="scbench.methods.graph_sc", multithreaded=True,
            source="github.com/ciortanmadalina/graph-sc@cda360b",
        ),
        MethodSpec(
            name="scdeepcluster",
            display_name="scDeepCluster (re-impl.)",
            reference="Tian et al., Clustering single-cell RNA-seq data with a model-based deep "
            "learning approach, Nat Mach Intell 2019, doi:10.1038/s42256-019-0037-0",
            needs_k=True, gpu=True, env="main", implementation="reimplementation",
            module="scbench.methods.scdeepcluster", multithreaded=True,
            source="github.com/ttgump/scDeepCluster@ff7f29d",
        ),
        MethodSpec(
            name="scea",
            display_name="SCEA (re-impl.)",
            reference="Abadi, Laghaee & Koohi, An optimized graph-based structure for "
            "single-cell RNA-seq cell-type classification based on non-linear dimension "
            "reduction, BMC Genomics 2023, doi:10.1186/s12864-023-09344-y",
            needs_k=True, gpu=True, env="main", implementation="reimplementation",
            module="scbench.methods.scea", multithreaded=True,
            source="github.com/SAkbari93/SCEA@a13ef014f25843a53ba720b969d4b57be06d9416",
        ),
    ]
}


def get(name: str) -> MethodSpec:
    """The spec of method ``name``; ``KeyError`` naming the valid methods otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        valid = ", ".join(sorted(METHODS))
        raise KeyError(f"unknown method {name!r}; valid methods: {valid}") from None
