//! One process per run directory: an advisory lock on `RUN/lock`, held for the whole
//! command. The operating system releases it when the process ends, however it ends
//! (a killed process never leaves a stale lock behind). Worker processes started by the
//! holder work under its lock and take none.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The held lock of a run directory; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Takes the lock of the run directory `root` (which must exist), writing who holds it
/// into the file; fails, naming the holder, when another process holds it.
pub fn lock(root: &Path) -> Result<RunLock> {
    let path = root.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // The holder may be writing its line: an empty or partial read still names
            // the directory.
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            bail!(
                "the run directory {} is in use by another nas process ({}); wait for it \
                 to finish, stop it, or choose another --out",
                root.display(),
                if holder.is_empty() {
                    "it has not said who it is yet"
                } else {
                    holder
                }
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    let command: Vec<String> = std::env::args().collect();
    let who = format!(
        "pid {}, started {}: {}\n",
        std::process::id(),
        time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t
                .format(&time::format_description::well_known::Rfc3339)
                .ok())
            .unwrap_or_else(|| "at an unknown time".into()),
        command.join(" ")
    );
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(who.as_bytes()))
        .and_then(|()| file.flush())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(RunLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_naming_the_holder_and_a_released_one_is_free() {
        let tmp = tempfile::tempdir().unwrap();
        let held = lock(tmp.path()).unwrap();
        let e = format!("{:#}", lock(tmp.path()).unwrap_err());
        assert!(e.contains("in use by another nas process"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(held);
        lock(tmp.path()).expect("the lock is free again once released");
    }
}
