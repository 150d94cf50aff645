//! The scale benchmark of `ugrn infer` (`bench.sh`): `synthetic-h5ad` writes its input,
//! `h5ad-means` times the streamed gene means of a sparse h5ad. See the README's "Large data".
