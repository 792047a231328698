//! What a kernel keeps on disk instead of in memory: values scattered into parts, each part read back whole
//! later ([`Parts`]: how a kernel sorts or groups more than it should hold, one part at a time), and lists of
//! `u32` per document ([`ListFile`]: shingle sets, read back a chunk at a time or one list by position), and
//! records read back in order ([`Records`]: what a kernel needs of each item only at its end). The files are the
//! session's spill files (DataFusion's `DiskManager`: its directory, its limit on their total
//! size), removed when read or dropped.

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::{SpillFile, SpillWriter};
use datafusion::prelude::SessionContext;

use crate::lists::Chunk;
use crate::{Error, Result};

/// Spill files in the system's temporary directory (TMPDIR), for what is kept on disk outside any session: a
/// result's edge records, the network files' spells.
pub(crate) fn system_disk() -> Result<Arc<DiskManager>> {
    Ok(datafusion::execution::runtime_env::RuntimeEnvBuilder::new().build()?.disk_manager)
}

/// Values a part buffers before they go to its file (256 KiB).
const BUFFERED: usize = 32 * 1024;

/// `u64` values in numbered parts, each a spill file.
pub(crate) struct Parts {
    what: &'static str,
    files: Vec<Option<Arc<dyn SpillFile>>>,
    writers: Vec<Option<Box<dyn SpillWriter>>>,
    buffers: Vec<Vec<u64>>,
    /// Values pushed into each part.
    lens: Vec<u64>,
    disk: Arc<DiskManager>,
}

impl Parts {
    /// `parts` empty parts in the spill directory of `ctx`; `what` names them in errors.
    pub(crate) fn new(ctx: &SessionContext, parts: usize, what: &'static str) -> Parts {
        Parts::in_dir(Arc::clone(&ctx.runtime_env().disk_manager), parts, what)
    }

    /// `parts` empty parts among `disk`'s files.
    pub(crate) fn in_dir(disk: Arc<DiskManager>, parts: usize, what: &'static str) -> Parts {
        Parts {
            what,
            files: (0..parts).map(|_| None).collect(),
            writers: (0..parts).map(|_| None).collect(),
            buffers: vec![Vec::new(); parts],
            lens: vec![0; parts],
            disk,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.buffers.len()
    }

    /// Appends `value` to `part`.
    pub(crate) fn push(&mut self, part: usize, value: u64) -> Result<()> {
        self.extend(part, &[value])
    }

    /// Appends `values` to `part`.
    pub(crate) fn extend(&mut self, part: usize, values: &[u64]) -> Result<()> {
        self.buffers[part].extend_from_slice(values);
        if self.buffers[part].len() >= BUFFERED {
            self.flush(part)?;
        }
        Ok(())
    }

    fn flush(&mut self, part: usize) -> Result<()> {
        if self.buffers[part].is_empty() {
            return Ok(());
        }
        if self.writers[part].is_none() {
            let file = self.disk.create_tmp_file(self.what)?;
            self.writers[part] = Some(file.open_writer()?);
            self.files[part] = Some(file);
        }
        let writer = self.writers[part].as_mut().expect("opened above");
        let mut bytes = Vec::with_capacity(self.buffers[part].len() * 8);
        for v in self.buffers[part].drain(..) {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        writer.write_all(&bytes).map_err(|e| self.io(e))?;
        self.lens[part] += bytes.len() as u64 / 8;
        Ok(())
    }

    fn io(&self, e: std::io::Error) -> Error {
        io(self.what, e)
    }

    /// Every value pushed into `part`, in the order pushed; its file is removed.
    pub(crate) fn take(&mut self, part: usize) -> Result<Vec<u64>> {
        let tail = std::mem::take(&mut self.buffers[part]);
        let Some(mut writer) = self.writers[part].take() else { return Ok(tail) };
        writer.flush().map_err(|e| self.io(e))?;
        writer.finish()?;
        drop(writer);
        let file = self.files[part].take().expect("a part with a writer has a file");
        let path = file.path().ok_or_else(|| Error::Internal(format!("{}: spill files must be local", self.what)))?;
        let mut out = Vec::with_capacity(self.lens[part] as usize + tail.len());
        let mut reader = std::fs::File::open(path).map_err(|e| self.io(e))?;
        let mut block = vec![0u8; 1 << 20];
        let mut filled = 0;
        loop {
            let read = reader.read(&mut block[filled..]).map_err(|e| self.io(e))?;
            if read == 0 {
                break;
            }
            filled += read;
            let whole = filled / 8 * 8;
            out.extend(block[..whole].chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))));
            block.copy_within(whole..filled, 0);
            filled -= whole;
        }
        if filled != 0 || out.len() as u64 != self.lens[part] {
            return Err(Error::Internal(format!(
                "{}: a spill file gave {} values and {filled} stray bytes, {} were written",
                self.what,
                out.len(),
                self.lens[part]
            )));
        }
        self.lens[part] = 0;
        out.extend(tail);
        Ok(out)
    }
}

/// Lists of `u32` for consecutive documents ([`Chunk`]s pushed in the order of their documents) in one spill
/// file: memory holds where each chunk is, not its lists. A chunk is read back whole ([`ListFile::chunk`]), or
/// one document's list alone ([`ListFile::get`]); a chunk may be replaced (its new lists are appended, the old
/// bytes left). Reads go to the file by position, so threads read at once; they see what was written up to the
/// last [`ListFile::flush`].
pub(crate) struct ListFile {
    what: &'static str,
    /// Holds the file (removed when the last holder drops it).
    _file: Arc<dyn SpillFile>,
    /// In a mutex only to be shared with the threads that read (writes take `&mut self`).
    writer: std::sync::Mutex<std::io::BufWriter<Box<dyn SpillWriter>>>,
    reader: std::fs::File,
    /// Bytes written.
    end: u64,
    /// Whether bytes were written since the last flush.
    dirty: bool,
    placed: Vec<Placed>,
}

/// Where a chunk is: its first document, its documents, its data's length (u32s) and its first byte. A chunk is
/// its offsets (documents + 1) and then its data, little-endian.
#[derive(Debug, Clone, Copy)]
struct Placed {
    first: u32,
    docs: u32,
    data: u32,
    at: u64,
}

impl ListFile {
    /// An empty file in the spill directory of `ctx`; `what` names it in errors.
    pub(crate) fn new(ctx: &SessionContext, what: &'static str) -> Result<ListFile> {
        let disk = Arc::clone(&ctx.runtime_env().disk_manager);
        let file = disk.create_tmp_file(what)?;
        let path = file.path().ok_or_else(|| Error::Internal(format!("{what}: spill files must be local")))?;
        let reader = std::fs::File::open(path).map_err(|e| io(what, e))?;
        let writer = std::io::BufWriter::with_capacity(1 << 20, file.open_writer()?);
        Ok(ListFile {
            what,
            _file: file,
            writer: std::sync::Mutex::new(writer),
            reader,
            end: 0,
            dirty: false,
            placed: Vec::new(),
        })
    }

    /// Chunks pushed.
    pub(crate) fn chunks(&self) -> usize {
        self.placed.len()
    }

    /// Appends `chunk`, whose documents follow the last chunk's.
    pub(crate) fn push(&mut self, chunk: &Chunk) -> Result<()> {
        let placed = self.write(chunk)?;
        self.placed.push(placed);
        Ok(())
    }

    /// Chunk `i` is now `chunk` (the same documents).
    pub(crate) fn replace(&mut self, i: usize, chunk: &Chunk) -> Result<()> {
        debug_assert_eq!((self.placed[i].first, self.placed[i].docs as usize), (chunk.first, chunk.len()));
        self.placed[i] = self.write(chunk)?;
        Ok(())
    }

    fn write(&mut self, chunk: &Chunk) -> Result<Placed> {
        let (offsets, data) = chunk.raw();
        let placed = Placed { first: chunk.first, docs: chunk.len() as u32, data: data.len() as u32, at: self.end };
        let mut bytes = Vec::with_capacity(4 * (offsets.len() + data.len()));
        for v in offsets.iter().chain(data) {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.writer().write_all(&bytes).map_err(|e| io(self.what, e))?;
        self.end += bytes.len() as u64;
        self.dirty = true;
        Ok(placed)
    }

    /// Writes what is buffered, so that reads see it.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.writer().flush().map_err(|e| io(self.what, e))?;
        self.dirty = false;
        Ok(())
    }

    fn writer(&mut self) -> &mut std::io::BufWriter<Box<dyn SpillWriter>> {
        self.writer.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_u32s(&self, at: u64, n: usize, out: &mut Vec<u32>) -> Result<()> {
        if self.dirty {
            return Err(Error::Internal(format!("{}: read before the lists written were flushed", self.what)));
        }
        let mut bytes = vec![0u8; 4 * n];
        self.reader.read_exact_at(&mut bytes, at).map_err(|e| io(self.what, e))?;
        out.clear();
        out.extend(bytes.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))));
        Ok(())
    }

    /// Chunk `i`, read back whole.
    pub(crate) fn chunk(&self, i: usize) -> Result<Chunk> {
        let p = self.placed[i];
        let mut offsets = Vec::new();
        self.read_u32s(p.at, p.docs as usize + 1 + p.data as usize, &mut offsets)?;
        let data = offsets.split_off(p.docs as usize + 1);
        Chunk::from_raw(p.first, offsets, data)
            .ok_or_else(|| Error::Internal(format!("{}: chunk {i} did not read back whole", self.what)))
    }

    /// The list of document `doc` into `out` (which is cleared).
    pub(crate) fn get(&self, doc: u32, out: &mut Vec<u32>) -> Result<()> {
        let c = self.placed.partition_point(|p| p.first <= doc);
        let p = match c.checked_sub(1).map(|c| self.placed[c]) {
            Some(p) if doc - p.first < p.docs => p,
            _ => return Err(Error::Internal(format!("{}: no document {doc}", self.what))),
        };
        let i = u64::from(doc - p.first);
        self.read_u32s(p.at + 4 * i, 2, out)?;
        let (start, end) = (out[0], out[1]);
        if start > end || end > p.data {
            return Err(Error::Internal(format!("{}: document {doc}'s offsets read back wrong", self.what)));
        }
        self.read_u32s(p.at + 4 * (u64::from(p.docs) + 1 + u64::from(start)), (end - start) as usize, out)
    }
}

/// Records of `u64` words appended to one spill file and read back in the order written, as often as needed:
/// what a kernel needs of each item only at its end. Memory holds a write buffer; the record layout is the
/// caller's.
pub(crate) struct Records {
    what: &'static str,
    /// Holds the file (removed when dropped).
    file: Arc<dyn SpillFile>,
    writer: std::io::BufWriter<Box<dyn SpillWriter>>,
    /// The file opened for reading by position.
    reader: Arc<std::fs::File>,
    /// Words written.
    words: u64,
}

impl Records {
    /// An empty file in the spill directory of `ctx`; `what` names it in errors.
    pub(crate) fn new(ctx: &SessionContext, what: &'static str) -> Result<Records> {
        Records::in_dir(&ctx.runtime_env().disk_manager, what)
    }

    /// An empty file of `disk`.
    pub(crate) fn in_dir(disk: &Arc<DiskManager>, what: &'static str) -> Result<Records> {
        let file = Arc::clone(disk).create_tmp_file(what)?;
        let writer = std::io::BufWriter::with_capacity(1 << 20, file.open_writer()?);
        let path = file.path().ok_or_else(|| Error::Internal(format!("{what}: spill files must be local")))?;
        let reader = Arc::new(std::fs::File::open(path).map_err(|e| io(what, e))?);
        Ok(Records { what, file, writer, reader, words: 0 })
    }

    /// Appends `words`; where they start (in words from the file's start).
    pub(crate) fn push(&mut self, words: &[u64]) -> Result<u64> {
        let at = self.words;
        for w in words {
            self.writer.write_all(&w.to_le_bytes()).map_err(|e| io(self.what, e))?;
        }
        self.words += words.len() as u64;
        Ok(at)
    }

    /// The `n` words at `at` into `out` (cleared), by position: for reading records out of order.
    pub(crate) fn read_at(&mut self, at: u64, n: usize, out: &mut Vec<u64>) -> Result<()> {
        self.writer.flush().map_err(|e| io(self.what, e))?;
        read_words_at(self.what, &self.reader, self.words, at, n, out)
    }

    /// Every word written, for reading only.
    pub(crate) fn finish(mut self) -> Result<Written> {
        self.writer.flush().map_err(|e| io(self.what, e))?;
        Ok(Written { what: self.what, file: self.file, reader: self.reader, words: self.words })
    }

    /// A reader from the first word written to the last.
    pub(crate) fn read(&mut self) -> Result<Reader> {
        self.writer.flush().map_err(|e| io(self.what, e))?;
        let path =
            self.file.path().ok_or_else(|| Error::Internal(format!("{}: spill files must be local", self.what)))?;
        let file = std::fs::File::open(path).map_err(|e| io(self.what, e))?;
        Ok(Reader { what: self.what, inner: std::io::BufReader::with_capacity(1 << 20, file), left: self.words })
    }
}

/// The `n` words at `at` of `file`, which holds `words` words.
fn read_words_at(
    what: &'static str,
    f: &std::fs::File,
    words: u64,
    at: u64,
    n: usize,
    out: &mut Vec<u64>,
) -> Result<()> {
    if at + n as u64 > words {
        return Err(Error::Internal(format!("{what}: {n} words at {at} asked of {words} written")));
    }
    let mut bytes = vec![0u8; 8 * n];
    f.read_exact_at(&mut bytes, 8 * at).map_err(|e| io(what, e))?;
    out.clear();
    out.extend(bytes.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))));
    Ok(())
}

/// A [`Records`] file whose writing is done: read in order as often as needed, or by position. Clones share
/// the file, which goes with the last of them.
#[derive(Clone)]
pub(crate) struct Written {
    what: &'static str,
    file: Arc<dyn SpillFile>,
    reader: Arc<std::fs::File>,
    words: u64,
}

impl Written {
    /// The number of words written.
    pub(crate) fn len(&self) -> u64 {
        self.words
    }

    /// A reader from the first word to the last.
    pub(crate) fn read(&self) -> Result<Reader> {
        let path =
            self.file.path().ok_or_else(|| Error::Internal(format!("{}: spill files must be local", self.what)))?;
        let file = std::fs::File::open(path).map_err(|e| io(self.what, e))?;
        Ok(Reader { what: self.what, inner: std::io::BufReader::with_capacity(1 << 20, file), left: self.words })
    }

    /// The `n` words at `at` into `out` (cleared).
    pub(crate) fn read_at(&self, at: u64, n: usize, out: &mut Vec<u64>) -> Result<()> {
        read_words_at(self.what, &self.reader, self.words, at, n, out)
    }
}

/// Reads a [`Records`] file in order.
pub(crate) struct Reader {
    what: &'static str,
    inner: std::io::BufReader<std::fs::File>,
    /// Words not yet read.
    left: u64,
}

impl Reader {
    /// Passes over the next `n` words.
    pub(crate) fn skip(&mut self, n: u64) -> Result<()> {
        if n > self.left {
            return Err(Error::Internal(format!("{}: {n} words skipped, {} are left", self.what, self.left)));
        }
        let bytes = i64::try_from(8 * n).map_err(|_| Error::Internal(format!("{}: a skip too far", self.what)))?;
        self.inner.seek_relative(bytes).map_err(|e| io(self.what, e))?;
        self.left -= n;
        Ok(())
    }

    /// The next `n` words into `out` (cleared).
    pub(crate) fn words(&mut self, n: usize, out: &mut Vec<u64>) -> Result<()> {
        if n as u64 > self.left {
            return Err(Error::Internal(format!("{}: {n} words asked, {} are left", self.what, self.left)));
        }
        let mut bytes = vec![0u8; 8 * n];
        self.inner.read_exact(&mut bytes).map_err(|e| io(self.what, e))?;
        self.left -= n as u64;
        out.clear();
        out.extend(bytes.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))));
        Ok(())
    }
}

/// A spill file that could not be written or read, in the directory DataFusion's disk manager spills to by
/// default (the system's temporary directory): the disk is full, or the engine's limit on spill files reached.
fn io(what: &str, e: std::io::Error) -> Error {
    Error::Spill { what: what.to_owned(), dir: std::env::temp_dir(), source: e }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_comes_back_in_its_part_in_order_and_the_files_go() {
        let ctx = SessionContext::new();
        let mut parts = Parts::new(&ctx, 5, "test values");
        let n = 3 * BUFFERED as u64 + 17;
        for v in 0..n {
            if v % 7 == 0 {
                parts.extend((v % 3) as usize, &[v.wrapping_mul(0x9e37_79b9_7f4a_7c15)]).unwrap();
            } else {
                parts.push((v % 3) as usize, v.wrapping_mul(0x9e37_79b9_7f4a_7c15)).unwrap();
            }
        }
        parts.push(4, u64::MAX).unwrap();
        let disk = Arc::clone(&ctx.runtime_env().disk_manager);
        assert!(disk.used_disk_space() > 0, "the parts went to disk");
        for part in 0..3 {
            let expected: Vec<u64> =
                (0..n).filter(|v| v % 3 == part as u64).map(|v| v.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
            assert_eq!(parts.take(part).unwrap(), expected);
        }
        assert_eq!(parts.take(3).unwrap(), Vec::<u64>::new());
        assert_eq!(parts.take(4).unwrap(), vec![u64::MAX]);
        assert_eq!(disk.used_disk_space(), 0, "every file was removed once read");
        // A part taken is empty and can be filled again.
        parts.push(0, 7).unwrap();
        assert_eq!(parts.take(0).unwrap(), vec![7]);
    }

    #[test]
    fn lists_come_back_by_chunk_and_by_document_and_a_replaced_chunk_reads_new() {
        let ctx = SessionContext::new();
        let mut file = ListFile::new(&ctx, "test lists").unwrap();
        // Chunks of 0 to 300 documents, document d's list d % 5 values starting at d.
        let list = |d: u32| (d..d + d % 5).collect::<Vec<u32>>();
        let mut first = 0u32;
        for n in [3u32, 0, 300, 1, 40] {
            file.push(&Chunk::new(first, (first..first + n).map(list))).unwrap();
            first += n;
        }
        let mut out = vec![99];
        assert!(file.get(0, &mut out).is_err(), "reads wait for a flush");
        file.flush().unwrap();
        for d in 0..first {
            file.get(d, &mut out).unwrap();
            assert_eq!(out, list(d), "document {d}");
        }
        assert!(file.get(first, &mut out).is_err(), "past the last document");
        let third = file.chunk(2).unwrap();
        assert_eq!((third.first, third.len()), (3, 300));
        assert_eq!(third.get(7), list(10).as_slice());
        // Chunk 2 replaced by lists of one value each: read back new, its neighbours as they were.
        file.replace(2, &Chunk::new(3, (3..303).map(|d| vec![d * 2]))).unwrap();
        file.flush().unwrap();
        file.get(10, &mut out).unwrap();
        assert_eq!(out, [20]);
        assert_eq!(file.chunk(2).unwrap().get(299), [604]);
        file.get(303, &mut out).unwrap();
        assert_eq!(out, list(303));
        file.get(2, &mut out).unwrap();
        assert_eq!(out, list(2));
        let disk = Arc::clone(&ctx.runtime_env().disk_manager);
        assert!(disk.used_disk_space() > 0);
        drop(file);
        assert_eq!(disk.used_disk_space(), 0, "the file goes with it");
    }

    #[test]
    fn records_read_back_in_order_as_often_as_asked_and_by_position_and_the_file_goes() {
        let ctx = SessionContext::new();
        let disk = Arc::clone(&ctx.runtime_env().disk_manager);
        let mut records = Records::new(&ctx, "test records").unwrap();
        // Record r: its length r % 4, then r, r + 1, ...
        let n = 200_000u64;
        for r in 0..n {
            let len = r % 4;
            let mut words = vec![len];
            words.extend(r..r + len);
            records.push(&words).unwrap();
        }
        for _ in 0..2 {
            let (mut reader, mut words) = (records.read().unwrap(), Vec::new());
            for r in 0..n {
                reader.words(1, &mut words).unwrap();
                let len = words[0];
                assert_eq!(len, r % 4);
                reader.words(len as usize, &mut words).unwrap();
                assert_eq!(words, (r..r + len).collect::<Vec<u64>>());
            }
            assert!(reader.words(1, &mut words).is_err(), "nothing past the end");
        }
        // By position: record 5 (its length 1, then 5) starts after records 0..5's 1 + 2 + 3 + 4 + 1 words.
        let mut words = Vec::new();
        records.read_at(11, 2, &mut words).unwrap();
        assert_eq!(words, [1, 5]);
        assert!(records.read_at(records.words - 1, 2, &mut words).is_err(), "nothing past the end");
        let written = records.finish().unwrap();
        written.read_at(11, 2, &mut words).unwrap();
        assert_eq!(words, [1, 5]);
        let mut reader = written.read().unwrap();
        reader.skip(11).unwrap();
        reader.words(2, &mut words).unwrap();
        assert_eq!(words, [1, 5]);
        assert!(disk.used_disk_space() > 0);
        drop((reader, written));
        assert_eq!(disk.used_disk_space(), 0, "the file goes with the last of its holders");
    }

    #[test]
    fn a_spill_that_does_not_fit_says_where_and_what_to_do() {
        // A disk manager allowed 1 KiB of spill files: the first part's flush goes past it.
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_max_temp_directory_size(1024)
            .build_arc()
            .unwrap();
        let ctx = SessionContext::new_with_config_rt(datafusion::prelude::SessionConfig::new(), runtime);
        let mut parts = Parts::new(&ctx, 1, "test values");
        let err = (0..BUFFERED as u64).try_for_each(|v| parts.push(0, v)).unwrap_err();
        assert!(matches!(err, Error::Spill { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.starts_with("test values: a spill file in "), "{message}");
        assert!(message.contains("TMPDIR") && message.contains("max_temp_directory_size"), "{message}");
        assert!(!message.contains("a bug in echolens"), "{message}");
    }
}
