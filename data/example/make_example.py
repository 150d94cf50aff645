"""Writes the example user dataset of workflows/own-data.toml and the README's `ugrn infer`
walk-through: BEELINE's mDC (STRING, TFs+500) cut to its first 100 cells.

Run from this folder with anndata installed, BEELINE beside the repo (../shared):
    python make_example.py
"""
import gzip
import pathlib

import anndata as ad
import pandas as pd

src = pathlib.Path("../../../shared/data/beeline/benchmark_datasets/STRING Dataset/mDC/TFs+500")
expr = pd.read_csv(src / "BL--ExpressionData.csv.gz", index_col=0).iloc[:, :100]
with gzip.GzipFile("mDC-100cells.csv.gz", "wb", mtime=0) as out:
    out.write(expr.to_csv(float_format="%.6g").encode())
ad.AnnData(X=expr.T.astype("float32").values, obs=pd.DataFrame(index=expr.columns),
           var=pd.DataFrame(index=expr.index)).write_h5ad("mDC-100cells.h5ad", compression="gzip")
tfs = pd.read_csv(src / "TF.csv.gz")["TF"]
pathlib.Path("mDC-tfs.txt").write_text("".join(f"{t}\n" for t in tfs))
net = pd.read_csv(src / "BL--network.csv.gz")[["Gene1", "Gene2"]]
net.to_csv("mDC-string-edges.csv", index=False)
