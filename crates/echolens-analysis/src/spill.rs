//! Values scattered into parts on disk, each part read back whole later: how a kernel sorts or groups more
//! than it should hold, one part at a time. The files are the session's spill files (DataFusion's
//! `DiskManager`: its directory, its limit on their total size), removed when read or dropped.

use std::io::{Read, Write};
use std::sync::Arc;

use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::{SpillFile, SpillWriter};
use datafusion::prelude::SessionContext;

use crate::{Error, Result};

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
        Parts {
            what,
            files: (0..parts).map(|_| None).collect(),
            writers: (0..parts).map(|_| None).collect(),
            buffers: vec![Vec::new(); parts],
            lens: vec![0; parts],
            disk: Arc::clone(&ctx.runtime_env().disk_manager),
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
        Error::Internal(format!("{}: a spill file could not be written or read: {e}", self.what))
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
}
