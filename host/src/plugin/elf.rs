//! Checks an ELF library's headers against its file size before it is loaded: the loader maps
//! segments straight from the file, so one that ends past the end of a truncated file faults
//! (SIGBUS) when touched, killing the process instead of failing the load.
//!
//! Only 64-bit little-endian ELF (every target ugrn's native plugins are built for on Linux) is
//! checked; other files are left to the loader, which reads no segment of a file it cannot
//! parse.

const HEADER_LEN: usize = 64;
const PROGRAM_HEADER_LEN: usize = 56;
const SECTION_HEADER_LEN: usize = 64;
const PT_LOAD: u32 = 1;
const SHT_NOBITS: u32 = 8;

fn u16_at(bytes: &[u8], at: usize) -> u64 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]]).into()
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Where a table of `count` entries of `entry` bytes at `offset` ends, if it fits in `len` bytes.
fn table_end(offset: u64, count: u64, entry: u64, len: u64) -> Option<u64> {
    offset.checked_add(count.checked_mul(entry)?).filter(|&end| end <= len)
}

/// Checks the ELF library at `path`, reading only its headers; `Err` says what lies outside the
/// file. A file that is not 64-bit little-endian ELF passes (see the module doc).
pub fn check_file(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    check(len, |offset, n| {
        let mut buf = vec![0u8; n];
        file.read_exact_at(&mut buf, offset).map(|()| buf).map_err(|e| e.to_string())
    })
}

/// [`check_file`] over a file of `len` bytes that `read(offset, n)` reads from; every read it
/// asks for lies inside the file.
fn check(len: u64, read: impl Fn(u64, usize) -> Result<Vec<u8>, String>) -> Result<(), String> {
    let ident = read(0, len.min(6) as usize)?;
    if !ident.starts_with(b"\x7fELF") || ident.len() < 6 || ident[4] != 2 || ident[5] != 1 {
        return Ok(());
    }
    if len < HEADER_LEN as u64 {
        return Err(format!("truncated: {len} bytes, shorter than an ELF header"));
    }
    let header = read(0, HEADER_LEN)?;
    let programs = Table {
        what: "program headers",
        item: "loadable segment",
        offset: u64_at(&header, 0x20),
        entry: u16_at(&header, 0x36),
        count: u16_at(&header, 0x38),
        min_entry: PROGRAM_HEADER_LEN,
        fields: (0, 8, 32),
        in_file: |kind| kind == PT_LOAD,
    };
    programs.check(len, &read)?;
    let sections = Table {
        what: "section headers",
        item: "section",
        offset: u64_at(&header, 0x28),
        entry: u16_at(&header, 0x3a),
        count: u16_at(&header, 0x3c),
        min_entry: SECTION_HEADER_LEN,
        fields: (4, 24, 32),
        in_file: |kind| kind != SHT_NOBITS,
    };
    // A library may have no section headers (offset 0).
    if sections.offset != 0 && sections.count > 0 {
        sections.check(len, &read)?;
    }
    Ok(())
}

/// One of the ELF header tables (program or section headers), each entry naming a range of the
/// file by its type, offset and size.
struct Table {
    what: &'static str,
    item: &'static str,
    offset: u64,
    entry: u64,
    count: u64,
    min_entry: usize,
    /// Byte positions of the entry's type (u32), file offset (u64) and file size (u64).
    fields: (usize, usize, usize),
    /// Whether an entry of this type must lie inside the file.
    in_file: fn(u32) -> bool,
}

impl Table {
    /// The table lies inside a file of `len` bytes, and so does every entry that must.
    fn check(&self, len: u64, read: &impl Fn(u64, usize) -> Result<Vec<u8>, String>) -> Result<(), String> {
        let Table { what, item, offset, entry, count, .. } = *self;
        if count > 0 && entry < self.min_entry as u64 {
            return Err(format!("corrupt: {what} of {entry} bytes"));
        }
        if table_end(offset, count, entry, len).is_none() {
            return Err(format!(
                "truncated or corrupt: {count} {what} at byte {offset} end past the file's {len} bytes"
            ));
        }
        let table = read(offset, (count * entry) as usize)?;
        let (kind_at, offset_at, size_at) = self.fields;
        for i in 0..count {
            let at = (i * entry) as usize;
            let (kind, start, size) =
                (u32_at(&table, at + kind_at), u64_at(&table, at + offset_at), u64_at(&table, at + size_at));
            if (self.in_file)(kind) && start.checked_add(size).is_none_or(|end| end > len) {
                return Err(format!(
                    "truncated or corrupt: {item} {i} spans bytes {start}..{}, the file has {len}",
                    start.saturating_add(size)
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_bytes(bytes: &[u8]) -> Result<(), String> {
        check(bytes.len() as u64, |offset, n| Ok(bytes[offset as usize..offset as usize + n].to_vec()))
    }

    /// An ELF64 header with one loadable segment at `offset`..`offset + size` and no sections.
    fn elf(offset: u64, size: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len.max(HEADER_LEN + PROGRAM_HEADER_LEN)];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[0x20..0x28].copy_from_slice(&(HEADER_LEN as u64).to_le_bytes());
        b[0x36..0x38].copy_from_slice(&(PROGRAM_HEADER_LEN as u16).to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        let p = HEADER_LEN;
        b[p..p + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        b[p + 8..p + 16].copy_from_slice(&offset.to_le_bytes());
        b[p + 32..p + 40].copy_from_slice(&size.to_le_bytes());
        b.truncate(len);
        b
    }

    #[test]
    fn a_segment_inside_the_file_passes_and_one_past_its_end_is_named() {
        assert_eq!(check_bytes(&elf(0, 200, 200)), Ok(()));
        assert_eq!(
            check_bytes(&elf(100, 200, 200)),
            Err("truncated or corrupt: loadable segment 0 spans bytes 100..300, the file has 200".into())
        );
        assert_eq!(
            check_bytes(&elf(u64::MAX, 2, 200)),
            Err(format!(
                "truncated or corrupt: loadable segment 0 spans bytes {}..{}, the file has 200",
                u64::MAX,
                u64::MAX
            ))
        );
    }

    #[test]
    fn headers_cut_short_are_named() {
        assert_eq!(check_bytes(&elf(0, 10, 40)), Err("truncated: 40 bytes, shorter than an ELF header".into()));
        assert_eq!(
            check_bytes(&elf(0, 10, 100)),
            Err("truncated or corrupt: 1 program headers at byte 64 end past the file's 100 bytes".into())
        );
    }

    #[test]
    fn other_formats_are_left_to_the_loader() {
        assert_eq!(check_bytes(b"not a library"), Ok(()));
        assert_eq!(check_bytes(b"\x7fELF\x01\x01"), Ok(()));
        assert_eq!(check_bytes(b""), Ok(()));
    }
}
