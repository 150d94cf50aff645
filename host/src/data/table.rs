//! Streaming CSV access to plain or gzipped files, keeping line numbers for error messages.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use super::{DataError, Location};

/// `<dir>/<stem>.csv.gz`, else `<dir>/<stem>.csv`, whichever exists first.
pub(crate) fn find_csv(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.csv.gz"), format!("{stem}.csv")].into_iter().map(|name| dir.join(name)).find(|p| p.is_file())
}

/// Where the newlines of a stream are, fed by [`NewlineTracker`] as bytes pass to the CSV
/// parser. csv's own line numbers do not count the blank lines it skips, so a record's line is
/// found from its byte offset instead.
#[derive(Default)]
struct Newlines {
    /// Offsets not yet passed by a lookup (bounded by the parser's read-ahead).
    pending: VecDeque<u64>,
    passed: u64,
}

impl Newlines {
    /// The 1-based line holding byte `at`; lookups must not go backwards.
    fn line_of(&mut self, at: u64) -> u64 {
        while self.pending.front().is_some_and(|&o| o < at) {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

struct NewlineTracker<R> {
    inner: R,
    offset: u64,
    newlines: Rc<RefCell<Newlines>>,
}

impl<R: Read> Read for NewlineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut newlines = self.newlines.borrow_mut();
        let offset = self.offset;
        newlines
            .pending
            .extend(buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| offset + i as u64));
        self.offset += n as u64;
        Ok(n)
    }
}

/// A CSV file read one record at a time. Fields are trimmed; rows may differ in width, so each
/// reader checks widths itself and can say which line and column is wrong.
pub(crate) struct Table {
    path: PathBuf,
    reader: csv::Reader<Box<dyn Read>>,
    newlines: Rc<RefCell<Newlines>>,
    record: csv::StringRecord,
    /// Where the current record ends (for a record on several lines, its last line).
    line: u64,
    header: csv::StringRecord,
}

impl Table {
    /// Opens `path`, decompressing when it starts with the gzip magic bytes (whatever its
    /// name says), and reads the header row.
    pub(crate) fn open(path: &Path) -> Result<Self, DataError> {
        let unreadable = |e: std::io::Error| DataError::file(Location::file(path), format!("cannot read: {e}"));
        let mut buffered = BufReader::new(File::open(path).map_err(unreadable)?);
        let gzipped = buffered.fill_buf().map_err(unreadable)?.starts_with(&[0x1f, 0x8b]);
        let text: Box<dyn Read> = if gzipped { Box::new(MultiGzDecoder::new(buffered)) } else { Box::new(buffered) };
        let newlines = Rc::new(RefCell::new(Newlines::default()));
        let tracked = NewlineTracker { inner: text, offset: 0, newlines: Rc::clone(&newlines) };
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(Box::new(tracked) as Box<dyn Read>);
        let mut table = Table {
            path: path.to_path_buf(),
            reader,
            newlines,
            record: csv::StringRecord::new(),
            line: 0,
            header: csv::StringRecord::new(),
        };
        if !table.next()? {
            return Err(DataError::file(Location::file(path), "empty file: expected a header row"));
        }
        table.header = table.record.clone();
        Ok(table)
    }

    /// Reads the next record (blank lines are skipped); false at the end of the file.
    pub(crate) fn next(&mut self) -> Result<bool, DataError> {
        let result = self.reader.read_record(&mut self.record);
        // The parser stops just past the record's last byte (its newline, if it has one).
        let last_byte = self.reader.position().byte().saturating_sub(1);
        self.line = self.newlines.borrow_mut().line_of(last_byte);
        result.map_err(|e| {
            let reason = match e.kind() {
                csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
                csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8 text ({err})"),
                _ => e.to_string(),
            };
            DataError::file(self.here(), reason)
        })
    }

    pub(crate) fn header(&self) -> &csv::StringRecord {
        &self.header
    }

    pub(crate) fn record(&self) -> &csv::StringRecord {
        &self.record
    }

    /// The current record's location.
    pub(crate) fn here(&self) -> Location {
        Location::line(&self.path, self.line)
    }

    /// The header's column named `name` (ASCII case ignored).
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h.eq_ignore_ascii_case(name))
    }

    pub(crate) fn require_column(&self, name: &str) -> Result<usize, DataError> {
        self.column(name).ok_or_else(|| {
            let header: Vec<&str> = self.header.iter().collect();
            DataError::file(
                Location::line(&self.path, 1),
                format!("no `{name}` column in the header ({})", header.join(",")),
            )
        })
    }

    /// The current record's non-empty field `index`, named `column` in errors.
    pub(crate) fn field(&self, index: usize, column: &str) -> Result<&str, DataError> {
        match self.record.get(index) {
            Some("") => Err(DataError::file(self.here().with_column(column), "empty field")),
            Some(value) => Ok(value),
            None => Err(DataError::file(
                self.here(),
                format!("no `{column}` field (field {}): the row has only {}", index + 1, self.record.len()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(path: &Path, text: &str) {
        let mut enc = flate2::write::GzEncoder::new(File::create(path).unwrap(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
    }

    #[test]
    fn reads_plain_and_gzip_alike_with_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let text = "Gene1, Gene2\r\nA,B\r\n\r\n\nC,D";
        std::fs::write(dir.path().join("plain.csv"), text).unwrap();
        // A gzipped file without the .gz suffix is still recognised by its magic bytes.
        gzip(&dir.path().join("packed.csv"), text);
        for name in ["plain.csv", "packed.csv"] {
            let mut t = Table::open(&dir.path().join(name)).unwrap();
            assert_eq!(t.require_column("gene2").unwrap(), 1);
            let mut rows = Vec::new();
            while t.next().unwrap() {
                rows.push((t.here().line.unwrap(), t.field(0, "Gene1").unwrap().to_string()));
            }
            assert_eq!(rows, vec![(2, "A".to_string()), (5, "C".to_string())]);
        }
    }

    #[test]
    fn prefers_the_gzipped_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_csv(dir.path(), "TF"), None);
        std::fs::write(dir.path().join("TF.csv"), "x").unwrap();
        assert_eq!(find_csv(dir.path(), "TF"), Some(dir.path().join("TF.csv")));
        std::fs::write(dir.path().join("TF.csv.gz"), "x").unwrap();
        assert_eq!(find_csv(dir.path(), "TF"), Some(dir.path().join("TF.csv.gz")));
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.csv");
        std::fs::write(&path, "Gene1,Gene2\nA,\nB\n").unwrap();
        let mut t = Table::open(&path).unwrap();
        let missing = t.require_column("Score").unwrap_err().to_string();
        assert_eq!(missing, format!("{}:1: no `Score` column in the header (Gene1,Gene2)", path.display()));
        assert!(t.next().unwrap());
        let empty = t.field(1, "Gene2").unwrap_err().to_string();
        assert_eq!(empty, format!("{}:2, column `Gene2`: empty field", path.display()));
        assert!(t.next().unwrap());
        let short = t.field(1, "Gene2").unwrap_err().to_string();
        assert_eq!(short, format!("{}:3: no `Gene2` field (field 2): the row has only 1", path.display()));
    }

    #[test]
    fn empty_missing_and_corrupt_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, "").unwrap();
        let e = Table::open(&empty).err().unwrap().to_string();
        assert_eq!(e, format!("{}: empty file: expected a header row", empty.display()));

        let missing = dir.path().join("nope.csv");
        let e = Table::open(&missing).err().unwrap().to_string();
        assert!(e.starts_with(&format!("{}: cannot read: ", missing.display())), "{e}");

        let corrupt = dir.path().join("bad.csv.gz");
        std::fs::write(&corrupt, [0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad]).unwrap();
        let e = Table::open(&corrupt).err().unwrap().to_string();
        assert!(e.starts_with(&format!("{}:1: cannot read: ", corrupt.display())), "{e}");
    }
}
