//! Writing a simulated dataset: BEELINE's file names and formats, in a folder that appears whole
//! or not at all.
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::{SimulateError, SimulatedData, log_normalise};

/// The file that marks a folder as written by `ugrn simulate` (and records how).
pub const RECORD_FILE: &str = "simulation.json";

/// Writes `data` into `folder`: `ExpressionData.csv.gz` (genes × cells, log2(1 + CP10k)),
/// `counts.csv.gz` (the raw counts), `refNetwork.csv` (`Gene1,Gene2,Type,Strength`), `TFs.txt`
/// (the regulators, one per line), `shuffledNetwork.csv` (`Gene1,Gene2`: the negative control's
/// labels) and `simulation.json` (`record`). Everything goes to a
/// staging folder beside `folder` first and is renamed into place when complete; an existing
/// `folder` is replaced only with `force` and only if it holds a `simulation.json`.
pub fn write_dataset(
    folder: &Path,
    data: &SimulatedData,
    record: &serde_json::Value,
    force: bool,
) -> Result<(), SimulateError> {
    let refuse = |why: String| SimulateError::Output { path: folder.into(), why };
    let existing = folder.exists();
    if existing && !force {
        return Err(refuse("exists; pass --force to replace a folder ugrn simulate wrote".into()));
    }
    if existing && !folder.join(RECORD_FILE).is_file() {
        return Err(refuse(format!(
            "exists and holds no {RECORD_FILE}: not a folder ugrn simulate wrote, left as it is"
        )));
    }
    let name = folder.file_name().ok_or_else(|| refuse("names no folder".into()))?.to_string_lossy().into_owned();
    let parent = match folder.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| SimulateError::io(&parent, e))?;
    let staging = parent.join(format!(".{name}.ugrn-staging-{}", std::process::id()));
    let result = write_files(&staging, data, record).and_then(|()| publish(&staging, folder, existing));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn publish(staging: &Path, folder: &Path, existing: bool) -> Result<(), SimulateError> {
    if !existing {
        return fs::rename(staging, folder).map_err(|e| SimulateError::io(folder, e));
    }
    let old = staging.with_file_name(format!("{}.old", staging.file_name().expect("a staging name").to_string_lossy()));
    fs::rename(folder, &old).map_err(|e| SimulateError::io(folder, e))?;
    if let Err(e) = fs::rename(staging, folder) {
        let _ = fs::rename(&old, folder);
        return Err(SimulateError::io(folder, e));
    }
    fs::remove_dir_all(&old).map_err(|e| SimulateError::io(&old, e))
}

fn write_files(dir: &Path, data: &SimulatedData, record: &serde_json::Value) -> Result<(), SimulateError> {
    fs::create_dir(dir).map_err(|e| SimulateError::io(dir, e))?;
    let genes = &data.network.genes;
    let cells = data.counts.first().map_or(0, Vec::len);
    let cell_names: Vec<String> = {
        let width = cells.to_string().len().max(4);
        (1..=cells).map(|c| format!("cell{c:0width$}")).collect()
    };
    let expression = log_normalise(&data.counts);
    gz_matrix(&dir.join("ExpressionData.csv.gz"), genes, &cell_names, |g, c| format!("{}", expression[g][c] as f32))?;
    gz_matrix(&dir.join("counts.csv.gz"), genes, &cell_names, |g, c| data.counts[g][c].to_string())?;
    let mut network = String::from("Gene1,Gene2,Type,Strength\n");
    for e in &data.network.edges {
        network += &format!("{},{},{},{}\n", genes[e.regulator], genes[e.target], e.sign.symbol(), e.strength);
    }
    write(&dir.join("refNetwork.csv"), network.as_bytes())?;
    let mut shuffled = String::from("Gene1,Gene2\n");
    for &(a, b) in &data.shuffled_edges {
        shuffled += &format!("{},{}\n", genes[a], genes[b]);
    }
    write(&dir.join("shuffledNetwork.csv"), shuffled.as_bytes())?;
    let tfs: String = data.network.regulators().iter().map(|&g| format!("{}\n", genes[g])).collect();
    write(&dir.join("TFs.txt"), tfs.as_bytes())?;
    let json = serde_json::to_vec_pretty(record).expect("a JSON value serialises");
    write(&dir.join(RECORD_FILE), &json)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), SimulateError> {
    fs::write(path, bytes).map_err(|e| SimulateError::io(path, e))
}

fn gz_matrix(
    path: &Path,
    genes: &[String],
    cells: &[String],
    value: impl Fn(usize, usize) -> String,
) -> Result<(), SimulateError> {
    let io = |e| SimulateError::io(path, e);
    let file = fs::File::create(path).map_err(io)?;
    let mut out = GzEncoder::new(BufWriter::new(file), Compression::default());
    for c in cells {
        write!(out, ",{c}").map_err(io)?;
    }
    writeln!(out).map_err(io)?;
    for (g, gene) in genes.iter().enumerate() {
        write!(out, "{gene}").map_err(io)?;
        for c in 0..cells.len() {
            write!(out, ",{}", value(g, c)).map_err(io)?;
        }
        writeln!(out).map_err(io)?;
    }
    out.finish().map_err(io)?.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::tests::small;

    fn gunzip(path: &Path) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(fs::File::open(path).unwrap()).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn writes_the_beeline_files_whole() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("net1");
        let data = small(4, 6).run().unwrap();
        write_dataset(&out, &data, &serde_json::json!({"seed": 4}), false).unwrap();
        let expression = gunzip(&out.join("ExpressionData.csv.gz"));
        let mut lines = expression.lines();
        assert_eq!(lines.next().unwrap(), ",cell0001,cell0002,cell0003,cell0004,cell0005,cell0006");
        let first: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(first[0], "G001");
        let counts = gunzip(&out.join("counts.csv.gz"));
        let count: u32 = counts.lines().nth(1).unwrap().split(',').nth(1).unwrap().parse().unwrap();
        assert_eq!(count, data.counts[0][0]);
        assert_eq!(expression.lines().count(), 31);
        let network = fs::read_to_string(out.join("refNetwork.csv")).unwrap();
        assert_eq!(network.lines().count(), data.network.edges.len() + 1);
        assert!(network.starts_with("Gene1,Gene2,Type,Strength\n"));
        let shuffled = fs::read_to_string(out.join("shuffledNetwork.csv")).unwrap();
        assert_eq!(shuffled.lines().count(), data.network.edges.len() + 1);
        let tfs = fs::read_to_string(out.join("TFs.txt")).unwrap();
        assert_eq!(tfs.lines().count(), data.network.regulators().len());
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, ["net1"], "no staging folder is left behind");

        let e = write_dataset(&out, &data, &serde_json::json!({}), false).unwrap_err().to_string();
        assert_eq!(e, format!("{}: exists; pass --force to replace a folder ugrn simulate wrote", out.display()));
        write_dataset(&out, &data, &serde_json::json!({"seed": 5}), true).unwrap();
        assert!(fs::read_to_string(out.join(RECORD_FILE)).unwrap().contains('5'));

        let foreign = dir.path().join("mine");
        fs::create_dir(&foreign).unwrap();
        fs::write(foreign.join("notes.txt"), "keep").unwrap();
        let e = write_dataset(&foreign, &data, &serde_json::json!({}), true).unwrap_err().to_string();
        assert!(
            e.ends_with("exists and holds no simulation.json: not a folder ugrn simulate wrote, left as it is"),
            "{e}"
        );
        assert_eq!(fs::read_to_string(foreign.join("notes.txt")).unwrap(), "keep");
    }
}
