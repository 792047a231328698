//! `export share`: the part of an `analyze` output folder a user may hand on — the report, the tables, the
//! networks, the summaries and the STIX bundle — as one zip with a manifest of SHA-256 hashes, written only
//! after every file was scanned for the raw account ids, handles and profile URLs of the store the findings
//! came from.
//!
//! What is never in it: the store (and its pseudonymisation key), the demo's corpus and truth, and any other
//! file a user put in the folder. A report made with `--reveal` is refused.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use datafusion::prelude::SessionContext;

use crate::findings::ReportDir;

/// The manifest inside the zip: `sha256sum -c` reads it.
pub const MANIFEST: &str = "MANIFEST.sha256";

/// The raw identities of a store's accounts, to look for in what is shared.
#[derive(Debug, Default)]
pub struct Identities {
    /// `platform:id` of every author and personal channel.
    accounts: HashSet<String>,
    /// Ids alone, when long enough not to be mistaken for a count (at least six characters, or not all digits).
    ids: HashSet<String>,
    /// Handles (lowercased) of accounts and names of personal channels.
    handles: HashSet<String>,
}

impl Identities {
    /// The identities of the `messages` table in `ctx`: every author id and screen name, and the ids and names
    /// of channels that are accounts' own timelines.
    pub async fn load(ctx: &SessionContext) -> Result<Identities> {
        let mut out = Identities::default();
        let chat = echolens_analysis::CHAT_AUTHOR;
        let sql = format!(
            "SELECT platform, author_id AS id, author_name AS name FROM messages \
             WHERE author_id IS NOT NULL AND NOT {chat} GROUP BY platform, author_id, author_name \
             UNION ALL \
             SELECT m.platform, m.channel_id AS id, m.channel_name AS name FROM messages m \
             GROUP BY m.platform, m.channel_id, m.channel_name \
             HAVING bool_and(m.author_id IS NOT NULL AND m.author_id = m.channel_id)"
        );
        for batch in ctx.sql(&sql).await?.collect().await? {
            let platform = echolens_analysis::strings(&batch, "platform")?;
            let id = echolens_analysis::strings(&batch, "id")?;
            let name = echolens_analysis::strings(&batch, "name")?;
            for i in 0..batch.num_rows() {
                let name = (!name.is_null(i)).then(|| name.value(i));
                out.add(platform.value(i), id.value(i), name);
            }
        }
        Ok(out)
    }

    /// Add an account: its id on `platform` and its handle.
    pub fn add(&mut self, platform: &str, id: &str, handle: Option<&str>) {
        if id.is_empty() {
            return;
        }
        self.accounts.insert(format!("{platform}:{id}"));
        if id.len() >= 6 || !id.bytes().all(|b| b.is_ascii_digit()) {
            self.ids.insert(id.to_owned());
        }
        if let Some(h) = handle.filter(|h| !h.is_empty() && !h.contains(char::is_whitespace)) {
            self.handles.insert(h.to_lowercase());
        }
    }

    /// The first identity in `text`, as what it is and where: an id or `platform:id` as a whole word, a handle
    /// after `@`, in a URL's path (`/NAME`) or as `platform:NAME`.
    pub fn find(&self, text: &str) -> Option<String> {
        let bytes = text.as_bytes();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut i = 0;
        while i < bytes.len() {
            if !word(bytes[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            let token = &text[start..i];
            let before = if start == 0 { b' ' } else { bytes[start - 1] };
            if self.ids.contains(token) {
                return Some(format!("the account id {token:?}"));
            }
            if before == b':' {
                // `platform:id` or `platform:name`: the platform is the word before the colon.
                let p_end = start - 1;
                let mut p_start = p_end;
                while p_start > 0 && word(bytes[p_start - 1]) {
                    p_start -= 1;
                }
                let account = &text[p_start..i];
                if self.accounts.contains(account) {
                    return Some(format!("the account {account:?}"));
                }
            }
            if matches!(before, b'@' | b'/' | b':') && self.handles.contains(&token.to_lowercase()) {
                return Some(format!("the handle {token:?}"));
            }
        }
        None
    }
}

/// The files of `report` a user may hand on, relative to its folder: `report.html`, `summary.json` and every
/// output its summary lists (tables, networks, summaries, the STIX bundle).
pub fn shareable(report: &ReportDir) -> Result<Vec<PathBuf>> {
    let mut files = vec![PathBuf::from("report.html"), PathBuf::from("summary.json")];
    for o in report.summary["outputs"].as_array().into_iter().flatten() {
        let o = o.as_str().context("summary.json: outputs holds a non-string")?;
        let p = PathBuf::from(o);
        // Only paths inside the folder.
        if p.is_absolute() || p.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            bail!("summary.json lists {o:?}, which is not inside the folder");
        }
        files.push(p);
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// The text of a file for the scan: Parquet tables decoded (their pages are compressed), others as UTF-8.
fn scan_text(path: &Path) -> Result<String> {
    if path.extension().is_some_and(|e| e == "parquet") {
        let rows = crate::findings::read_table_file(path)?;
        let mut text = String::new();
        for row in rows {
            for v in row.values() {
                text.push_str(v);
                text.push('\n');
            }
        }
        return Ok(text);
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What [`share`] wrote.
#[derive(Debug, serde::Serialize)]
pub struct Shared {
    /// The zip.
    pub zip: PathBuf,
    /// The files in it (the manifest last), with their SHA-256.
    pub files: Vec<(String, String)>,
    /// Bytes of the zip.
    pub bytes: u64,
}

/// Scan the shareable files of `report` for `identities` and, if none holds one, write them and a manifest
/// to the zip `out` (written aside and renamed).
pub fn share(report: &ReportDir, identities: &Identities, out: &Path) -> Result<Shared> {
    if !report.pseudonymised() {
        bail!(
            "{} was written with --reveal (raw account ids): it is not for sharing; run analyze again without \
             --reveal",
            report.dir.display()
        );
    }
    let files = shareable(report)?;
    let mut entries = Vec::new();
    for rel in &files {
        let path = report.dir.join(rel);
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("{}: listed in summary.json but missing", path.display()))?;
        if !meta.is_file() {
            bail!("{}: not a plain file (a link or folder is never shared)", path.display());
        }
        if let Some(found) = identities.find(&scan_text(&path)?) {
            bail!(
                "{} holds {found} of the store: nothing was written. Run analyze again without --reveal, or \
                 report this as a pseudonymisation bug",
                path.display()
            );
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        entries.push((rel.to_string_lossy().replace('\\', "/"), bytes));
    }
    let mut manifest = String::new();
    let mut listed = Vec::new();
    for (name, bytes) in &entries {
        let hash = sha256_hex(bytes);
        manifest.push_str(&format!("{hash}  {name}\n"));
        listed.push((name.clone(), hash));
    }
    entries.push((MANIFEST.to_owned(), manifest.clone().into_bytes()));
    listed.push((MANIFEST.to_owned(), sha256_hex(manifest.as_bytes())));
    let run_at = report.summary["run_at"].as_str().unwrap_or("");
    let zip = zip_bytes(&entries, dos_time(run_at))?;
    echolens_store::write_atomically(out, &zip).with_context(|| format!("writing {}", out.display()))?;
    Ok(Shared { zip: out.to_owned(), files: listed, bytes: zip.len() as u64 })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// An MS-DOS date and time (the zip format's) for an RFC 3339 time: the files carry the run's time, so the same
/// folder gives the same zip.
fn dos_time(t: &str) -> (u16, u16) {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::parse_from_rfc3339(t).map(|t| t.naive_utc()).unwrap_or_default();
    let year = (t.year().clamp(1980, 2107) - 1980) as u16;
    let date = (year << 9) | ((t.month() as u16) << 5) | t.day() as u16;
    let time = ((t.hour() as u16) << 11) | ((t.minute() as u16) << 5) | (t.second() as u16 / 2);
    (date, time)
}

/// A zip archive (deflated entries, no zip64: the shareable part of a report is megabytes) of `entries` in order.
fn zip_bytes(entries: &[(String, Vec<u8>)], (date, time): (u16, u16)) -> Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    let mut central: Vec<u8> = Vec::new();
    let small = |n: usize, what: &str| -> Result<u32> {
        u32::try_from(n).ok().filter(|&n| n < u32::MAX).with_context(|| format!("{what} is over 4 GiB"))
    };
    for (name, data) in entries {
        let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflate.write_all(data)?;
        let packed = deflate.finish()?;
        let crc = crc32fast::hash(data);
        let offset = small(out.len(), "the zip")?;
        let (size, packed_size) = (small(data.len(), name)?, small(packed.len(), name)?);
        let name_len = u16::try_from(name.len()).context("a file name over 64 KiB")?;
        // Local file header: version 2.0, UTF-8 names (bit 11), deflate.
        let fields = |out: &mut Vec<u8>| {
            out.extend_from_slice(&0x0800u16.to_le_bytes());
            out.extend_from_slice(&8u16.to_le_bytes());
            out.extend_from_slice(&time.to_le_bytes());
            out.extend_from_slice(&date.to_le_bytes());
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&packed_size.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&name_len.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        fields(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        // Central directory entry.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&(0x0300u16 | 20).to_le_bytes()); // made by: Unix, 2.0
        central.extend_from_slice(&20u16.to_le_bytes());
        fields(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&((0o100644u32) << 16).to_le_bytes()); // a plain file, rw-r--r--
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let count = u16::try_from(entries.len()).context("over 65,535 files")?;
    let (at, size) = (small(out.len(), "the zip")?, small(central.len(), "the zip's directory")?);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_found_as_ids_accounts_and_handles_not_inside_other_words() {
        let mut ids = Identities::default();
        ids.add("x", "50012", Some("User_12"));
        ids.add("telegram", "7", Some("bob"));
        assert!(ids.find("account x:50012 wrote").is_some());
        assert!(ids.find("a count of 50012").is_none(), "a short numeric id alone is a number");
        assert!(ids.find("x:500123 and 1500012").is_none(), "not inside other numbers");
        assert!(ids.find("telegram:7:15").is_some());
        assert!(ids.find("hi @user_12").is_some() && ids.find("https://x.com/user_12/status/1").is_some());
        assert!(ids.find("bob went home; user_12s").is_none(), "a handle as a word of text is not flagged");
        ids.add("x", "1234567890", None);
        assert!(ids.find("\"1234567890\"").is_some(), "a long id alone is");
    }
}
