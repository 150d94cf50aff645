"""Writes the .h5ad fixtures of host/src/data/h5ad.rs's tests with the real anndata package.

Run from this folder: python make_h5ad.py (anndata 0.12.19, h5py 3.16.0 made the committed files).
Every file holds the same 3 cells x 4 genes matrix, so one expected genes x cells matrix fits all.
"""
import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

X = np.array([[1.5, 0.0, 0.0, 2.0],
              [0.0, 0.0, 3.0, 0.0],
              [4.0, 0.5, 0.0, 0.0]], dtype=np.float32)
obs = pd.DataFrame(index=["cell_a", "cell_b", "cell_c"])
symbols = ["GATA1", "SPI1", "MYC", "CEBPA"]

ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=symbols)).write_h5ad("dense.h5ad")
ad.AnnData(X=sp.csr_matrix(X.astype(np.float64)), obs=obs,
           var=pd.DataFrame(index=symbols)).write_h5ad("csr.h5ad", compression="gzip")
# CELLxGENE style: Ensembl ids as the index, symbols in a (categorical) column.
var = pd.DataFrame({"feature_name": pd.Categorical(symbols)},
                   index=["ENSG01", "ENSG02", "ENSG03", "ENSG04"])
ad.AnnData(X=sp.csc_matrix(X), obs=obs, var=var).write_h5ad("csc_feature_name.h5ad")
# Two cell types with different expression, for `ugrn infer --groupby cell_type`.
Xg = np.array([[1.0, 6.0, 0.0, 2.0],
               [2.0, 8.0, 1.0, 0.0],
               [0.0, 0.5, 7.0, 5.0],
               [1.0, 0.0, 9.0, 3.0]], dtype=np.float32)
obs_g = pd.DataFrame({"cell_type": pd.Categorical(["B", "B", "T", "T"])},
                     index=["b1", "b2", "t1", "t2"])
ad.AnnData(X=Xg, obs=obs_g, var=pd.DataFrame(index=symbols)).write_h5ad("grouped.h5ad")
