//! Kill-safe file primitives: atomic writes, JSON files, an append-only JSON-lines log
//! that survives a kill in the middle of a line, and stable keys.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// Writes `bytes` to `path` so that readers see the old content or the new, never a mix:
/// a temporary file in the same folder, flushed to disk, then renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    {
        let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
    }
    fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// [`write_atomic`] of pretty JSON.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("encoding JSON")?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads a JSON file written by [`write_json`]; `None` if it does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).with_context(|| {
            format!(
                "{} is not valid (delete it to redo that step)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// An append-only JSON-lines file. Opening it drops a torn last line (a kill during a
/// write) so that appends continue cleanly.
pub struct JsonLog {
    path: PathBuf,
    file: File,
}

impl JsonLog {
    /// Opens (or creates) the log and returns it with the records already in it.
    pub fn open<T: DeserializeOwned>(path: &Path) -> Result<(JsonLog, Vec<T>)> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut records = Vec::new();
        let mut good_len = 0u64;
        if path.exists() {
            let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let mut reader = BufReader::new(f);
            let mut line = String::new();
            let mut lineno = 0;
            loop {
                line.clear();
                let n = reader
                    .read_line(&mut line)
                    .with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    break;
                }
                lineno += 1;
                if !line.ends_with('\n') {
                    // A torn last line: written up to a kill. Dropped.
                    break;
                }
                let rec = serde_json::from_str(line.trim_end()).with_context(|| {
                    format!("{} line {lineno} is not a valid record", path.display())
                })?;
                records.push(rec);
                good_len += n as u64;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.set_len(good_len)
            .with_context(|| format!("truncating {}", path.display()))?;
        let mut log = JsonLog {
            path: path.to_path_buf(),
            file,
        };
        log.seek_end()?;
        Ok((log, records))
    }

    fn seek_end(&mut self) -> Result<()> {
        use std::io::Seek;
        self.file
            .seek(std::io::SeekFrom::End(0))
            .with_context(|| format!("seeking in {}", self.path.display()))?;
        Ok(())
    }

    /// Appends one record as one line and flushes it to disk.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_string(record).context("encoding a record")?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .with_context(|| format!("appending to {}", self.path.display()))
    }
}

/// A short stable hash (16 hex digits of SHA-256) of a value's JSON form.
pub fn key_of<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&json);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A 64-bit seed derived from a value (for per-architecture model initialisation).
pub fn seed_of<T: Serialize>(value: &T) -> u64 {
    let json = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&json);
    u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_drops_a_torn_line_and_keeps_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        {
            let (mut log, old) = JsonLog::open::<u32>(&path).unwrap();
            assert!(old.is_empty());
            log.append(&1u32).unwrap();
            log.append(&2u32).unwrap();
        }
        // A kill in the middle of the third line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"3").unwrap();
        drop(f);
        let (mut log, old) = JsonLog::open::<u32>(&path).unwrap();
        assert_eq!(old, vec![1, 2]);
        log.append(&4u32).unwrap();
        drop(log);
        assert_eq!(fs::read_to_string(&path).unwrap(), "1\n2\n4\n");
        // A bad complete line is an error naming the file and line, not silently dropped.
        fs::write(&path, "1\nx\n").unwrap();
        let e = format!("{:#}", JsonLog::open::<u32>(&path).err().unwrap());
        assert!(e.contains("log.jsonl line 2"), "{e}");
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_json(&path, &vec![1, 2]).unwrap();
        write_json(&path, &vec![3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&path).unwrap(), Some(vec![3]));
        assert_eq!(
            read_json::<Vec<i32>>(&dir.path().join("none")).unwrap(),
            None
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        assert_eq!(key_of(&"x"), key_of(&"x"));
        assert_ne!(key_of(&"x"), key_of(&"y"));
    }
}
