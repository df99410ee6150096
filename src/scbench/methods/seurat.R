# Seurat clustering for scbench (called by scbench/methods/seurat.py; do not run by hand).
# Usage: Rscript seurat.R DIR SEED NFEATURES NPCS NDIMS K RESOLUTION ALGORITHM
# Reads DIR/counts.mtx (genes x cells, MatrixMarket), DIR/genes.txt, DIR/cells.txt; writes
# DIR/clusters.tsv (cell, cluster), DIR/pca.tsv (cells x PCs) and DIR/versions.tsv.
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 8) stop("usage: seurat.R DIR SEED NFEATURES NPCS NDIMS K RESOLUTION ALGORITHM")
dir <- args[1]
seed <- as.integer(args[2])
nfeatures <- as.integer(args[3])
npcs <- as.integer(args[4])
ndims <- as.integer(args[5])
k <- as.integer(args[6])
resolution <- as.numeric(args[7])
algorithm <- as.integer(args[8])

suppressPackageStartupMessages({
  library(Matrix)
  library(Seurat)
})
set.seed(seed)

counts <- as(readMM(file.path(dir, "counts.mtx")), "CsparseMatrix")
rownames(counts) <- readLines(file.path(dir, "genes.txt"))
colnames(counts) <- readLines(file.path(dir, "cells.txt"))

obj <- CreateSeuratObject(counts = counts, min.cells = 0, min.features = 0)
obj <- NormalizeData(obj, normalization.method = "LogNormalize", scale.factor = 1e4,
                     verbose = FALSE)
obj <- FindVariableFeatures(obj, selection.method = "vst", nfeatures = nfeatures, verbose = FALSE)
obj <- ScaleData(obj, verbose = FALSE)
npcs <- min(npcs, ncol(obj) - 1, length(VariableFeatures(obj)) - 1)
obj <- RunPCA(obj, npcs = npcs, seed.use = seed, verbose = FALSE)
ndims <- min(ndims, npcs)
obj <- FindNeighbors(obj, dims = 1:ndims, k.param = k, verbose = FALSE)
obj <- FindClusters(obj, resolution = resolution, algorithm = algorithm, random.seed = seed,
                    verbose = FALSE)

write.table(data.frame(cell = colnames(obj), cluster = as.character(Idents(obj))),
            file.path(dir, "clusters.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
emb <- Embeddings(obj, "pca")
write.table(data.frame(cell = rownames(emb), emb, check.names = FALSE),
            file.path(dir, "pca.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
versions <- c(
  R = paste(R.version$major, R.version$minor, sep = "."),
  Seurat = as.character(packageVersion("Seurat")),
  SeuratObject = as.character(packageVersion("SeuratObject")),
  Matrix = as.character(packageVersion("Matrix")),
  npcs_used = npcs, ndims_used = ndims, nfeatures_used = length(VariableFeatures(obj))
)
write.table(data.frame(name = names(versions), value = versions), file.path(dir, "versions.tsv"),
            sep = "\t", quote = FALSE, row.names = FALSE)
