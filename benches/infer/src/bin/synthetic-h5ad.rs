//! A synthetic sparse AnnData file for the scale benchmark: `cells` × `genes` as a csr_matrix
//! with a share `density` of stored values, in anndata's layout (obs and var dataframes).
//!
//! `synthetic-h5ad --cells N --genes G [--density D] [--genes-from FILE] [--seed S] --output PATH`
//! - `--genes-from FILE`: gene names, one per line, taken first (e.g. a model's vocabulary, so
//!   that the genes are known to it); the rest are `SYN<k>`.
//! - values are log1p of a count 1–50, each stored value drawn independently (seeded xorshift),
//!   so every run with the same arguments writes the same file.
use std::path::PathBuf;

use anyhow::{Context, bail};
use hdf5_pure::{AttrValue, FileBuilder, GroupBuilder};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn encoding(mut set: impl FnMut(&str, AttrValue), kind: &str, version: &str) {
    set("encoding-type", AttrValue::VarLenString(kind.into()));
    set("encoding-version", AttrValue::VarLenString(version.into()));
}

fn dataframe(group: &mut GroupBuilder, index: &[&str]) {
    encoding(|k, v| group.set_attr(k, v), "dataframe", "0.2.0");
    group.set_attr("_index", AttrValue::VarLenString("_index".into()));
    group.set_attr("column-order", AttrValue::VarLenStringArray(Vec::new()));
    let dataset = group.create_dataset("_index");
    dataset.with_vlen_strings(index);
    encoding(
        |k, v| {
            dataset.set_attr(k, v);
        },
        "string-array",
        "0.2.0",
    );
}

fn main() -> anyhow::Result<()> {
    let (mut cells, mut genes, mut density, mut seed) = (0usize, 0usize, 0.05f64, 1u64);
    let (mut names_from, mut output): (Option<PathBuf>, Option<PathBuf>) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag} {value:?}: expected {what}");
        match flag.as_str() {
            "--cells" => cells = value.parse().with_context(|| bad("a count"))?,
            "--genes" => genes = value.parse().with_context(|| bad("a count"))?,
            "--density" => density = value.parse().with_context(|| bad("a share in (0, 1]"))?,
            "--seed" => seed = value.parse().with_context(|| bad("an integer"))?,
            "--genes-from" => names_from = Some(value.into()),
            "--output" => output = Some(value.into()),
            other => bail!("unknown flag {other}"),
        }
    }
    let output = output.context("--output PATH is required")?;
    if cells == 0 || genes == 0 || !(density > 0.0 && density <= 1.0) {
        bail!("--cells and --genes must be positive and --density in (0, 1]");
    }
    let mut names: Vec<String> = match &names_from {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(genes)
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    let taken = names.len();
    names.extend((taken..genes).map(|k| format!("SYN{k}")));
    let cell_names: Vec<String> = (0..cells).map(|c| format!("cell{c}")).collect();

    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let expected = (cells as f64 * genes as f64 * density * 1.01) as usize;
    let (mut data, mut indices) = (Vec::with_capacity(expected), Vec::with_capacity(expected));
    let mut indptr = Vec::with_capacity(cells + 1);
    indptr.push(0i64);
    for _ in 0..cells {
        for gene in 0..genes {
            if rng.unit() < density {
                indices.push(gene as i32);
                data.push((1.0 + (rng.next() % 50) as f32).ln());
            }
        }
        indptr.push(indices.len() as i64);
    }

    let mut file = FileBuilder::new();
    encoding(|k, v| file.set_attr(k, v), "anndata", "0.1.0");
    for (frame, index) in [("obs", &cell_names), ("var", &names)] {
        let mut group = file.create_group(frame);
        dataframe(&mut group, &index.iter().map(String::as_str).collect::<Vec<_>>());
        file.add_group(group.finish());
    }
    let mut x = file.create_group("X");
    encoding(|k, v| x.set_attr(k, v), "csr_matrix", "0.1.0");
    x.set_attr("shape", AttrValue::I64Array(vec![cells as i64, genes as i64]));
    x.create_dataset("data").with_f32_data(&data);
    x.create_dataset("indices").with_i32_data(&indices);
    x.create_dataset("indptr").with_i64_data(&indptr);
    file.add_group(x.finish());
    let partial = output.with_extension("h5ad.partial");
    file.write(&partial).with_context(|| format!("{}: cannot write", partial.display()))?;
    std::fs::rename(&partial, &output).with_context(|| format!("{}: cannot rename into place", output.display()))?;
    println!(
        "{}: {cells} cells × {genes} genes ({taken} from {}), {} stored values ({:.2}%)",
        output.display(),
        names_from.as_ref().map_or("none".into(), |p| p.display().to_string()),
        data.len(),
        100.0 * data.len() as f64 / (cells as f64 * genes as f64)
    );
    Ok(())
}
