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

/// How old a temporary file of [`write_atomic`] must be before [`remove_stale_temporaries`]
/// takes it for the leftover of a killed process. Writes take seconds; the margin keeps a
/// write in flight from another process (a cluster task writing into a shared run
/// directory) safe.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Whether `name` is the name [`write_atomic`] gives its temporary files.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".tmp")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the temporary files of [`write_atomic`] that a killed process left under `root`
/// (down to `depth` folders deep) and that are older than `older_than`; returns how many.
/// They are hidden and never read, so this only frees space.
pub fn remove_stale_temporaries(
    root: &Path,
    depth: usize,
    older_than: std::time::Duration,
) -> usize {
    let Ok(entries) = fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        let name = e.file_name();
        if kind.is_dir() && depth > 0 {
            removed += remove_stale_temporaries(&e.path(), depth - 1, older_than);
        } else if kind.is_file() && is_temporary(&name.to_string_lossy()) {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= older_than);
            if old && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
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
        let (records, good_len) = read_records(path)?;
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

    /// The records of the log at `path` (none when it does not exist), without opening
    /// it for appending: a torn last line is skipped, not removed.
    pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
        Ok(read_records(path)?.0)
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

/// The complete lines of the JSON-lines file at `path` as records, and the length in
/// bytes they take (a torn last line, written up to a kill, is not counted).
fn read_records<T: DeserializeOwned>(path: &Path) -> Result<(Vec<T>, u64)> {
    let mut records = Vec::new();
    let mut good_len = 0u64;
    if !path.exists() {
        return Ok((records, good_len));
    }
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::new(f);
    let mut line = String::new();
    let mut lineno = 0;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        lineno += 1;
        let rec = serde_json::from_str(line.trim_end())
            .with_context(|| format!("{} line {lineno} is not a valid record", path.display()))?;
        records.push(rec);
        good_len += n as u64;
    }
    Ok((records, good_len))
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
    fn a_number_read_back_and_written_again_keeps_its_bits() {
        // serde_json's default parser can be one unit in the last place off; a stand-alone
        // result copied from a shared folder then differed from its original.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        let values = [
            3.3064941684852878f64,
            0.1 + 0.2,
            1e-300 / 3.0,
            2.0f64.sqrt(),
        ];
        write_json(&path, &values).unwrap();
        let back: Vec<f64> = read_json(&path).unwrap().unwrap();
        let again = dir.path().join("y.json");
        write_json(&again, &back).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&values));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&again).unwrap()
        );
    }

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
    fn stale_temporaries_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("standalone");
        fs::create_dir_all(&sub).unwrap();
        let files = [
            sub.join(".abc.json.tmp123"),
            dir.path().join(".report.json.tmp9"),
            sub.join("abc.json"),
            sub.join(".abc.json.tmp"),
            sub.join(".hidden"),
            dir.path().join("notes.tmp1"),
        ];
        for f in &files {
            fs::write(f, "x").unwrap();
        }
        assert!(is_temporary(".abc.json.tmp123"));
        assert!(!is_temporary(".abc.json.tmpx1"));
        assert!(!is_temporary("abc.json.tmp1"));
        // Young temporaries may belong to a write in flight: kept.
        let long = std::time::Duration::from_secs(3600);
        assert_eq!(remove_stale_temporaries(dir.path(), 3, long), 0);
        // Old enough (any age is, here): the two temporaries go, everything else stays.
        assert_eq!(
            remove_stale_temporaries(dir.path(), 3, std::time::Duration::ZERO),
            2
        );
        let left: Vec<bool> = files.iter().map(|f| f.exists()).collect();
        assert_eq!(left, [false, false, true, true, true, true]);
        // Depth bounds the walk.
        fs::write(sub.join(".x.tmp1"), "x").unwrap();
        assert_eq!(
            remove_stale_temporaries(dir.path(), 0, std::time::Duration::ZERO),
            0
        );
        assert_eq!(
            remove_stale_temporaries(dir.path(), 1, std::time::Duration::ZERO),
            1
        );
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
