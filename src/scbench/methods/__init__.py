"""Clustering methods behind one contract.

Each method module exposes ``run(adata, *, seed, threads, device, n_clusters, params)``.

``registry`` lists them (metadata, environment, availability), ``run`` is the runner CLI
(``python -m scbench.methods.run``) and each other module implements one method. Importing this
package imports nothing: method modules load their heavy dependencies themselves.
"""
