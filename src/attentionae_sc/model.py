"""The user-facing model: AnnData in, training loop, labels and embedding out."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from anndata import AnnData
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.metrics import silhouette_score
from tqdm.auto import tqdm

from . import __version__
from . import graph as graphs
from .config import WITHOUT_GRAPH, AttentionAEConfig
from .losses import CountTarget, GraphTarget, kl_divergence, student_t_q, target_distribution
from .module import AttentionAEModule
from .preprocessing import (
    Cells,
    GeneSpace,
    cells_in_gene_space,
    fit_gene_space,
    select_genes,
    size_factors,
)
from .runtime import atomic_path, peak_gpu_mb, peak_rss_mb, resolve_device, seed_everything
from .validation import InputError, count_matrix

UNASSIGNED = -1
LOG_EVERY = 10  # epochs between progress lines in the log
#: Cells the silhouette of a start partition is computed on (a seeded sample above this).
SILHOUETTE_MAX_CELLS = 5000

logger = logging.getLogger("attentionae_sc")
SAVE_FORMAT = 1  # version of the file layout written by AttentionAESC.save


class NotFittedError(_SklearnNotFittedError):
    """A method that needs a fitted model was called before :meth:`AttentionAESC.fit`."""


@dataclass
class _GraphInputs:
    """The cell graph in the two forms the network needs."""

    adjacency: torch.Tensor | None  # normalised, for the GCN
    target: GraphTarget | None  # for the reconstruction loss


@dataclass
class History:
    """Per-epoch record of both training stages.

    ``seconds`` is the wall time from the previous epoch's record to this one (one forward,
    backward and optimizer step); the first epoch's counts from the start of its stage.
    In the clustering stage, ``max_q`` is the mean over cells of each cell's largest soft
    assignment (1/k for uniform rows: a flattening Q) and ``labels`` holds each epoch's labels
    of the training cells (argmax of P), for plots of the stage against known types (Fig 4A);
    the model never sees such types.
    """

    pretrain: dict[str, list[float]] = field(
        default_factory=lambda: {"loss": [], "reconstruction": [], "graph": [], "seconds": []}
    )
    cluster: dict[str, list[float]] = field(
        default_factory=lambda: {"loss": [], "kl": [], "reconstruction": [], "graph": [],
                                 "n_clusters": [], "max_q": [], "label_change": [],
                                 "seconds": []}
    )
    labels: list[np.ndarray] = field(default_factory=list)

    def to_dict(self) -> dict[str, dict[str, np.ndarray]]:
        out = {stage: {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
               for stage, values in (("pretrain", self.pretrain), ("cluster", self.cluster))}
        out["cluster"]["labels"] = (np.stack(self.labels).astype(np.int32) if self.labels
                                    else np.zeros((0, 0), dtype=np.int32))
        return out


def _size_order(labels: np.ndarray, n_centres: int) -> np.ndarray:
    """A map from centre index to label: 0 for the largest cluster, then by size (ties by
    index); centres without cells come last."""
    counts = np.bincount(labels, minlength=n_centres)
    order = np.lexsort((np.arange(n_centres), -counts))
    mapping = np.empty(n_centres, dtype=np.int64)
    mapping[order] = np.arange(n_centres)
    return mapping


def collapsed(max_q: float, n_centres: int, n_clusters: int) -> bool:
    """Whether a clustering stage ended collapsed: fewer than 2 clusters left, or rows of Q
    near uniform (mean largest q under 1.5 / number of centres), where KL(P||Q) is near zero
    whatever the clusters are. DEC's fixed target sharpens Q instead; the authors' gradient
    through P can flatten it (README)."""
    return n_clusters < 2 or max_q < 1.5 / n_centres


def _finite_value(loss: torch.Tensor, stage: str, epoch: int) -> float:
    """The loss as a float; a NaN/Inf loss stops training with a clear error."""
    value = loss.item()
    if not np.isfinite(value):
        raise FloatingPointError(f"{stage} loss is {value} at epoch {epoch}")
    return value


class AttentionAESC:
    """AttentionAE-sc clustering of raw-count scRNA-seq data.

    >>> model = AttentionAESC(random_state=0).fit(adata)   # doctest: +SKIP
    >>> model.labels_, model.embedding_                    # doctest: +SKIP
    >>> model.predict(new_adata)                           # doctest: +SKIP
    >>> model.save("model.pt"); AttentionAESC.load("model.pt")  # doctest: +SKIP

    ``config`` holds every hyper-parameter (:class:`AttentionAEConfig`); keyword overrides such
    as ``epochs_pretrain=50`` are applied on top. ``random_state`` (alias ``seed``) seeds python,
    numpy, torch and Leiden. ``progress=None`` shows a progress bar only on a terminal; progress
    and stage summaries also go to ``logging.getLogger("attentionae_sc")``.

    Attributes ending in ``_`` exist only on a fitted model (as in scikit-learn): ``labels_``,
    ``embedding_``, ``module_`` (the trained network), ``gene_space_``, ``centres_``,
    ``history_``, ``timings_``, ``memory_``, ``training_cells_``, ``start_resolution_``,
    ``resolution_scan_``, ``initial_n_clusters_``, ``init_graph_``, ``collapsed_``.
    """

    def __init__(
        self,
        config: AttentionAEConfig | None = None,
        *,
        random_state: int | None = None,
        seed: int | None = None,
        device: str | torch.device = "auto",
        progress: bool | None = None,
        **overrides: Any,
    ) -> None:
        config = config or AttentionAEConfig()
        self.config = config.replace(**overrides) if overrides else config
        if random_state is not None and seed is not None and random_state != seed:
            raise ValueError(f"random_state={random_state} and its alias seed={seed} differ")
        random_state = next((v for v in (random_state, seed) if v is not None), 0)
        if not 0 <= random_state < 2**32:
            raise ValueError(f"random_state (seed) must be in [0, 2**32), got {random_state}")
        self.random_state = int(random_state)
        self.device = resolve_device(device)
        self.progress = progress

    @property
    def seed(self) -> int:
        """Alias of ``random_state``."""
        return self.random_state

    def _reset(self) -> None:
        """Forget any previous fit, so that a fit that fails leaves no half-fitted model."""
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("_")]:
            delattr(self, name)
        self._label_of_centre: np.ndarray | None = None

    @property
    def n_training_cells_(self) -> int:
        return len(self.training_cells_)

    @property
    def initial_n_clusters_(self) -> int:
        """Clusters of the Leiden start: one centre each (centres are never dropped)."""
        return len(self.centres_)

    def _build_module(self, n_genes: int) -> AttentionAEModule:
        cfg = self.config
        return AttentionAEModule(
            n_genes, hidden=cfg.hidden, heads=cfg.heads, attention_dropout=cfg.attention_dropout,
            noise=cfg.noise, noise_sd=cfg.noise_sd, theta_activation=cfg.theta_activation,
            ablation=cfg.ablation,
        ).to(self.device)

    # ------------------------------------------------------------------ data -> tensors
    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.device)

    def _graph(self, cells: Cells, *, with_target: bool) -> _GraphInputs:
        cfg = self.config
        if cfg.ablation in WITHOUT_GRAPH:
            return _GraphInputs(None, None)
        n_pcs = 50 if cells.n_cells >= cfg.graph_pcs_from_cells else 0
        graph = graphs.neighbor_graph(
            cells.log_norm, n_neighbors=cfg.n_neighbors, method=cfg.graph_method,
            knn=cfg.graph_knn, metric=cfg.graph_metric, seed=self.random_state, n_pcs=n_pcs,
        )
        normalized = graphs.gcn_normalize(graph.connectivities, cfg.gcn_normalization)
        adjacency = graphs.to_torch(normalized, self.device)
        target = None
        if with_target:
            source = (graphs.with_unit_diagonal(graph.connectivities)
                      if cfg.graph_target == "adjacency" else graph.distances)
            target = GraphTarget.from_scipy(source, self.device,
                                            block_elements=cfg.graph_block_elements)
        return _GraphInputs(adjacency, target)

    def _prepare(self, adata: AnnData, layer: str | None,
                 allow_non_integer: bool) -> tuple[Cells, np.ndarray]:
        return select_genes(
            count_matrix(adata, layer, allow_non_integer=allow_non_integer),
            adata.var_names.to_numpy(),
            n_hvg=self.config.n_hvg, target_sum=self.config.target_sum,
            min_cells=self.config.n_neighbors + 1,
        )

    def _training_rows(self, n_cells: int) -> np.ndarray:
        """All cells, or a label-free uniform random subsample of ``max_cells`` of them."""
        limit = self.config.max_cells
        if not limit or n_cells <= limit:
            return np.arange(n_cells)
        rng = np.random.default_rng(self.random_state)
        return np.sort(rng.choice(n_cells, size=limit, replace=False))

    # ------------------------------------------------------------------ training
    def fit(self, adata: AnnData, layer: str | None = None, *,
            allow_non_integer: bool = False) -> AttentionAESC:
        """Train on the raw counts in ``adata.X`` (or ``layer``) and cluster every cell."""
        self._reset()
        try:
            self._fit(adata, layer, allow_non_integer)
        except BaseException:
            self._reset()  # a failed fit leaves an unfitted model, not a half-fitted one
            raise
        return self

    def fit_predict(self, adata: AnnData, layer: str | None = None, *,
                    allow_non_integer: bool = False) -> np.ndarray:
        """:meth:`fit`, then the labels of every cell (``labels_``)."""
        return self.fit(adata, layer, allow_non_integer=allow_non_integer).labels_

    def _fit(self, adata: AnnData, layer: str | None, allow_non_integer: bool) -> None:
        cfg = self.config
        start = time.perf_counter()
        self.history_, self.timings_ = History(), {}
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        seed_everything(self.random_state)
        cells, genes = self._prepare(adata, layer, allow_non_integer)
        train = cells.subset(self._training_rows(cells.n_cells))
        self.training_cells_ = train.index
        self.gene_space_ = fit_gene_space(train, genes, adata.n_vars)
        x = self._tensor(self.gene_space_.scale(train.log_norm))
        counts = CountTarget.from_counts(self._tensor(train.counts))
        sf = self._tensor(size_factors(train.library_size))
        graph = self._graph(train, with_target=True)
        self.timings_["preprocess_s"] = time.perf_counter() - start

        self.module_ = self._build_module(x.shape[1])
        bar = tqdm(total=cfg.epochs_pretrain + cfg.epochs_cluster, desc="AttentionAE-sc",
                   disable=None if self.progress is None else not self.progress, leave=False)
        try:
            tick = time.perf_counter()
            self._pretrain(x, counts, sf, graph, bar)
            self.timings_["pretrain_s"] = time.perf_counter() - tick
            logger.info("pretraining: %d epochs, loss %.4f, %.1f s",
                        len(self.history_.pretrain["loss"]), self.history_.pretrain["loss"][-1],
                        self.timings_["pretrain_s"])
            tick = time.perf_counter()
            self._cluster(x, counts, sf, graph, bar)
            self.timings_["cluster_s"] = time.perf_counter() - tick
        finally:
            bar.close()

        tick = time.perf_counter()
        if train.n_cells == cells.n_cells:
            z = self._embed(x, graph.adjacency)
        else:
            z = self._embed(self._tensor(self.gene_space_.scale(cells.log_norm)),
                            self._graph(cells, with_target=False).adjacency)
        labels = self._assign(z)
        self.timings_["assign_s"] = time.perf_counter() - tick
        self.timings_["total_s"] = time.perf_counter() - start
        self.memory_ = {"peak_rss_mb": peak_rss_mb()}
        gpu = peak_gpu_mb(self.device)
        if gpu is not None:
            self.memory_["peak_gpu_mb"] = gpu

        self._label_of_centre = _size_order(labels, len(self.centres_))
        self.embedding_ = np.full((adata.n_obs, z.shape[1]), np.nan, dtype=np.float32)
        self.embedding_[cells.index] = z.cpu().numpy()
        all_labels = np.full(adata.n_obs, UNASSIGNED, dtype=np.int64)
        all_labels[cells.index] = self._label_of_centre[labels]
        self.labels_ = all_labels  # set last: it marks the model as fitted
        logger.info("done: %d clusters, %.1f s", len(np.unique(labels)), self.timings_["total_s"])

    def _pretrain(self, x, counts, sf, graph: _GraphInputs, bar) -> None:
        cfg, module = self.config, self.module_
        optimizer = torch.optim.Adam(module.parameters(), lr=cfg.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step,
                                                    gamma=cfg.lr_gamma)
        module.train()
        best, best_epoch = float("inf"), 0
        last = time.perf_counter()
        for epoch in range(cfg.epochs_pretrain):
            output = module(x, graph.adjacency, sf)
            reconstruction, graph_loss = module.losses(
                output, x=x, counts=counts, graph_target=graph.target)
            loss = reconstruction + cfg.graph_weight * graph_loss
            value = _finite_value(loss, "pretraining", epoch)
            last = self._record(self.history_.pretrain, last, loss=value,
                                reconstruction=reconstruction.item(), graph=graph_loss.item())
            self._progress(bar, "pretrain", epoch, cfg.epochs_pretrain, value)
            if value < best:
                best, best_epoch = value, epoch
            elif epoch - best_epoch > cfg.pretrain_patience:
                break
            self._step(optimizer, loss, module.parameters())
            scheduler.step()

    @torch.no_grad()
    def _embed(self, x: torch.Tensor, adjacency: torch.Tensor | None,
               train_mode: bool = False) -> torch.Tensor:
        """Z without gradients; in eval mode unless ``train_mode`` (noise and dropout on)."""
        self.module_.train(train_mode)
        z, _ = self.module_.encode(x, adjacency)
        return z

    def _soft_assignment(self, z: torch.Tensor) -> torch.Tensor:
        return student_t_q(z, self.centres_, alpha=self.config.student_t_alpha,
                           power=self.config.student_t_power)

    @torch.no_grad()
    def _assign(self, z: torch.Tensor) -> np.ndarray:
        """Labels as the argmax of the target distribution P over the given cells."""
        return target_distribution(self._soft_assignment(z)).argmax(dim=1).cpu().numpy()

    def _initial_centres(self, z: torch.Tensor) -> torch.Tensor:
        """Leiden on a Gaussian-kernel graph of the pretrained embedding (as the authors' code,
        whatever ``graph_method`` is); each cluster's mean is a centre."""
        cfg = self.config
        z_np = z.cpu().numpy()
        self.init_graph_ = "dense" if len(z_np) <= cfg.init_graph_dense_max_cells else "knn"
        z_graph = graphs.neighbor_graph(z_np, n_neighbors=cfg.n_neighbors, method="gauss",
                                        knn=self.init_graph_ == "knn", metric=cfg.graph_metric,
                                        seed=self.random_state)
        labels, self.start_resolution_, self.resolution_scan_ = self._start_partition(
            z_np, z_graph.connectivities)
        centres = np.stack([z_np[labels == k].mean(axis=0) for k in np.unique(labels)])
        return self._tensor(centres)

    def _start_partition(self, z: np.ndarray, connectivities
                         ) -> tuple[np.ndarray, float, list[tuple[float, int, float]]]:
        """Leiden labels of Z at the configured resolution or, for ``"auto"``, at the resolution
        of ``resolution_grid`` whose partition has the highest silhouette on Z; also the
        resolution used and, per resolution tried, (resolution, clusters, silhouette; NaN for
        one cluster).

        Leiden at a fixed resolution cuts a large homogeneous type into chunks whose size is set
        by the graph's density, not by the data (CellBench: 20-35 cells per chunk whatever the
        size of the cell line), and DEC keeps the chunks it starts from. Chunks of one type
        touch each other in Z, so they lower the silhouette; distinct types do not. Ties go to
        the finer partition. Uses Z and the graph only, never labels.
        """
        cfg = self.config
        grid = cfg.resolution_grid if cfg.resolution == "auto" else (float(cfg.resolution),)
        sample = min(len(z), SILHOUETTE_MAX_CELLS)
        scan: list[tuple[float, int, float]] = []
        partitions = {}
        for resolution in map(float, grid):
            labels = graphs.leiden(connectivities, resolution=resolution, seed=self.random_state)
            k = len(np.unique(labels))
            score = (float(silhouette_score(z, labels, sample_size=sample,
                                            random_state=self.random_state))
                     if 2 <= k < len(z) else float("nan"))
            scan.append((resolution, k, score))
            partitions[resolution] = labels
        # highest silhouette, then the finer partition; one cluster ranks last
        resolution, _, score = max(scan, key=lambda r: (np.nan_to_num(r[2], nan=-np.inf), r[0]))
        if len(grid) > 1:
            logger.info("clustering start: resolution %g, %d clusters (silhouette %.3f)",
                        resolution, len(np.unique(partitions[resolution])), score)
        return partitions[resolution], resolution, scan

    def _cluster(self, x, counts, sf, graph: _GraphInputs, bar) -> None:
        cfg, module = self.config, self.module_
        tick = time.perf_counter()
        z = self._embed(x, graph.adjacency, train_mode=cfg.init_embedding_train_mode)
        self.centres_ = self._initial_centres(z).requires_grad_(True)
        self.timings_["cluster_init_s"] = time.perf_counter() - tick
        with module.clustering_stage() as trained:
            optimizer = torch.optim.Adam(trained + [self.centres_], lr=cfg.lr)
            module.train()
            previous, last = None, time.perf_counter()
            for epoch in range(cfg.epochs_cluster):
                loss, labels, terms = self._clustering_loss(x, counts, sf, graph)
                value = _finite_value(loss, "clustering", epoch)
                change = (float("nan") if previous is None
                          else float((labels != previous).float().mean()))
                previous = labels
                n_clusters = int(torch.unique(labels).numel())
                last = self._record(self.history_.cluster, last, loss=value, **terms,
                                    n_clusters=float(n_clusters), label_change=change)
                self.history_.labels.append(labels.cpu().numpy())
                self._progress(bar, "cluster", epoch, cfg.epochs_cluster, value, n_clusters)
                if epoch > cfg.min_cluster_epochs and change < cfg.tol:
                    break
                self._step(optimizer, loss, trained)
        self.centres_ = self.centres_.detach()
        history = self.history_.cluster
        logger.info("clustering: %d epochs, %d clusters from %d", len(history["loss"]),
                    history["n_clusters"][-1] if history["n_clusters"] else len(self.centres_),
                    len(self.centres_))
        self.collapsed_ = bool(history["max_q"]) and collapsed(
            history["max_q"][-1], len(self.centres_), int(history["n_clusters"][-1]))
        if self.collapsed_:
            logger.warning("the clustering stage collapsed: %d clusters left of %d, mean largest "
                           "q %.3f (uniform rows: %.3f)", history["n_clusters"][-1],
                           len(self.centres_), history["max_q"][-1], 1 / len(self.centres_))

    def _clustering_loss(self, x, counts, sf, graph: _GraphInputs
                         ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """KL(P||Q) + r2 * L_train (eq. 20), the labels (argmax of P) and the loss terms."""
        cfg = self.config
        output = self.module_(x, graph.adjacency, sf)
        q = self._soft_assignment(output.z)
        p = target_distribution(q.detach() if cfg.detach_target else q)
        reconstruction, graph_loss = self.module_.losses(
            output, x=x, counts=counts, graph_target=graph.target)
        kl = kl_divergence(p, q)
        loss = kl + cfg.train_weight * (reconstruction + cfg.graph_weight * graph_loss)
        terms = {"kl": kl.item(), "reconstruction": reconstruction.item(),
                 "graph": graph_loss.item(), "max_q": q.detach().max(dim=1).values.mean().item()}
        return loss, p.detach().argmax(dim=1), terms

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, params) -> None:
        """One optimizer step on ``loss``, the gradient norm of ``params`` clipped."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, self.config.clip_norm)
        optimizer.step()

    def _progress(self, bar, stage: str, epoch: int, epochs: int, loss: float,
                  n_clusters: int | None = None) -> None:
        """Advance the progress bar; every ``LOG_EVERY`` epochs also log a line (the bar is
        off where stderr is not a terminal, e.g. in a workflow log)."""
        bar.update()
        extra = {} if n_clusters is None else {"k": n_clusters}
        bar.set_postfix(stage=stage, loss=f"{loss:.4f}", **extra)
        if (epoch + 1) % LOG_EVERY == 0 or epoch + 1 == epochs:
            store = self.history_.pretrain if stage == "pretrain" else self.history_.cluster
            logger.info("%s epoch %d/%d: loss %.4f%s, %.1f s", stage, epoch + 1, epochs, loss,
                        "" if n_clusters is None else f", {n_clusters} clusters",
                        sum(store["seconds"]))

    @staticmethod
    def _record(store: dict[str, list[float]], last: float, **values: float) -> float:
        """Append one epoch's values and its ``seconds`` since ``last``; return the time now."""
        now = time.perf_counter()
        for key, value in {**values, "seconds": now - last}.items():
            store[key].append(value)
        return now

    # ------------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):  # set last in fit()
            raise NotFittedError("this AttentionAESC is not fitted yet; call fit() or load()")

    def _new_cells(self, adata: AnnData, layer: str | None,
                   allow_non_integer: bool) -> tuple[Cells, torch.Tensor]:
        self._check_fitted()
        matrix = count_matrix(adata, layer, allow_non_integer=allow_non_integer)
        cells = cells_in_gene_space(matrix, adata.var_names.to_numpy(), self.gene_space_,
                                    self.config.target_sum)
        if cells.n_cells <= self.config.n_neighbors and self.config.ablation not in WITHOUT_GRAPH:
            raise InputError(f"need more than n_neighbors={self.config.n_neighbors} cells, "
                             f"got {cells.n_cells}")
        z = self._embed(self._tensor(self.gene_space_.scale(cells.log_norm)),
                        self._graph(cells, with_target=False).adjacency)
        return cells, z

    def transform(self, adata: AnnData, layer: str | None = None, *,
                  allow_non_integer: bool = False) -> np.ndarray:
        """Embedding Z of new cells (NaN rows for cells without counts).

        The counts are checked as in :meth:`fit`: non-integer values need ``allow_non_integer``.
        """
        cells, z = self._new_cells(adata, layer, allow_non_integer)
        out = np.full((adata.n_obs, z.shape[1]), np.nan, dtype=np.float32)
        out[cells.index] = z.cpu().numpy()
        return out

    def predict(self, adata: AnnData, layer: str | None = None, *,
                allow_non_integer: bool = False) -> np.ndarray:
        """Cluster ids of new cells in the fitted clusters (-1 for cells without counts).

        New cells get their own graph and are assigned by argmax of P computed over them.
        Ids are those of ``labels_``. As in :meth:`fit`, each cell is normalised by its counts
        over all genes of ``adata``, so pass the whole gene set, not only the model's genes.
        """
        cells, z = self._new_cells(adata, layer, allow_non_integer)
        out = np.full(adata.n_obs, UNASSIGNED, dtype=np.int64)
        out[cells.index] = self._label_of_centre[self._assign(z)]
        return out

    def run_info(self) -> dict[str, Any]:
        """Parameters, history, timings and memory, in a form ``AnnData.uns`` can store."""
        self._check_fitted()
        return {
            "params": {**self.config.to_dict(), "random_state": self.random_state,
                       "device": str(self.device)},
            "history": self.history_.to_dict(),
            "timings": dict(self.timings_),
            "memory": dict(self.memory_),
            "n_training_cells": self.n_training_cells_,
            "n_genes": len(self.gene_space_.genes),
            "epochs_pretrain_run": len(self.history_.pretrain["loss"]),
            "epochs_cluster_run": len(self.history_.cluster["loss"]),
            "initial_n_clusters": self.initial_n_clusters_,
            "init_graph": self.init_graph_,
            "start_resolution": self.start_resolution_,
            "resolution_scan": np.asarray(self.resolution_scan_, dtype=np.float64).reshape(-1, 3),
            "training_cells": np.asarray(self.training_cells_, dtype=np.int64),
            "collapsed": self.collapsed_,
        }

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the fitted model (settings, network, centres, gene space, results) to ``path``
        with ``torch.save``, atomically; :meth:`load` reads it back."""
        self._check_fitted()
        history = self.history_
        state = {
            "format": SAVE_FORMAT, "version": __version__,
            "config": self.config.to_dict(), "random_state": self.random_state,
            "n_genes": len(self.gene_space_.genes),
            "module": self.module_.state_dict(),
            "centres": self.centres_.cpu(),
            "label_of_centre": torch.from_numpy(self._label_of_centre),
            "gene_space": {"genes": [str(g) for g in self.gene_space_.genes],
                           "mean": torch.from_numpy(self.gene_space_.mean),
                           "std": torch.from_numpy(self.gene_space_.std),
                           "n_input_genes": int(self.gene_space_.n_input_genes)},
            "labels": torch.from_numpy(self.labels_),
            "embedding": torch.from_numpy(self.embedding_),
            "training_cells": torch.from_numpy(np.asarray(self.training_cells_)),
            "history": {"pretrain": history.pretrain, "cluster": history.cluster,
                        "labels": [torch.from_numpy(np.asarray(row)) for row in history.labels]},
            "timings": dict(self.timings_), "memory": dict(self.memory_),
            "scalars": {"init_graph": self.init_graph_, "collapsed": bool(self.collapsed_),
                        "start_resolution": float(self.start_resolution_)},
            "resolution_scan": [list(row) for row in self.resolution_scan_],
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "auto") -> AttentionAESC:
        """A fitted model written by :meth:`save` (``torch.load`` with ``weights_only=True``:
        the file holds tensors and plain values only), on ``device``."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != SAVE_FORMAT:
            raise ValueError(f"{path}: not an AttentionAESC file of format {SAVE_FORMAT}")
        model = cls(AttentionAEConfig(**state["config"]), random_state=state["random_state"],
                    device=device, progress=False)
        model.module_ = model._build_module(state["n_genes"])
        model.module_.load_state_dict(state["module"])
        model.module_.eval()
        model.centres_ = state["centres"].to(model.device)
        model._label_of_centre = state["label_of_centre"].numpy()
        space = state["gene_space"]
        model.gene_space_ = GeneSpace(np.asarray(space["genes"]), space["mean"].numpy(),
                                      space["std"].numpy(), space["n_input_genes"])
        history = History(state["history"]["pretrain"], state["history"]["cluster"],
                          [row.numpy() for row in state["history"]["labels"]])
        model.history_, model.timings_, model.memory_ = (history, state["timings"],
                                                         state["memory"])
        model.training_cells_ = state["training_cells"].numpy()
        scalars = state["scalars"]
        model.init_graph_, model.collapsed_ = scalars["init_graph"], scalars["collapsed"]
        model.start_resolution_ = scalars["start_resolution"]
        model.resolution_scan_ = [tuple(row) for row in state["resolution_scan"]]
        model.embedding_ = state["embedding"].numpy()
        model.labels_ = state["labels"].numpy()  # set last: it marks the model as fitted
        return model
