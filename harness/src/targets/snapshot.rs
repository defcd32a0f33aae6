//! The snapshots of the `restore` phase: where a target keeps the one it
//! makes in `prepare`, what making it cost (its size on disk and the time it
//! took, in the target's facts), and the checks before an instance is
//! restored from it.
//!
//! A snapshot is made anew by every run that asks for `restore`, from the
//! artifacts as they are then, by the runtime that restores it: one made
//! from another artifact or by another runtime version cannot be picked up.
//! It lives in a folder of the run's own, `coldbench-snapshots/<run>/<target>/`
//! under /dev/shm (memory, as a platform's snapshot cache; else the temporary
//! directory), never in the results folder (guest RAM can be hundreds of
//! MiB), and is removed with its target.
//! A snapshot that went missing, or whose sources changed after it was made,
//! is refused at restore with what to do, never restored.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use super::{Context, Facts, TargetError};

/// A snapshot made for this run.
#[derive(Debug)]
pub struct Snapshot {
    /// Its file (or folder, for a mechanism that writes several files).
    pub path: PathBuf,
    /// Size on disk, bytes (every file, for a folder).
    pub bytes: u64,
    /// How long making it took (untimed for the samples).
    pub made_in: Duration,
    /// When it was made.
    made_at: SystemTime,
    /// What it was made from: a restore is refused if one changed since.
    sources: Vec<PathBuf>,
    /// Why the last [`Snapshot::recheck`] refused it, if it did.
    refused: Option<String>,
}

impl AsRef<Snapshot> for Snapshot {
    fn as_ref(&self) -> &Snapshot {
        self
    }
}

/// What `prepare` made: nothing (the plan has no restore), a snapshot (or
/// what holds one), or why it could not.
pub type Made<T> = Option<Result<T, String>>;

/// The folder for `target`'s snapshots in this run, made empty.
pub fn folder(ctx: &Context, target: &str) -> Result<PathBuf, TargetError> {
    let run = ctx
        .log_dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("pid{}", std::process::id()));
    // In memory where the machine has a tmpfs for it, as a platform's
    // snapshot cache would be; a restore then reads no disk.
    let shm = PathBuf::from("/dev/shm");
    let base = if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    };
    let dir = base.join("coldbench-snapshots").join(run).join(target);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| {
        TargetError::Prepare(format!(
            "cannot make the snapshot folder {}: {e}",
            dir.display()
        ))
    })?;
    Ok(dir)
}

/// Size of a file, or of every file under a folder.
fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        // What the file takes on disk: a sparse RAM image counts its pages.
        use std::os::unix::fs::MetadataExt;
        return (meta.blocks() * 512).min(meta.len());
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
}

impl Snapshot {
    /// Runs `make`, which writes the snapshot at `path` from `sources`, and
    /// keeps what it cost. An error says what the mechanism said.
    pub fn make(
        path: PathBuf,
        sources: &[PathBuf],
        make: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<Snapshot, String> {
        let started = Instant::now();
        make(&path)?;
        let made_in = started.elapsed();
        if !path.exists() {
            return Err(format!(
                "the snapshot was not written ({} is missing)",
                path.display()
            ));
        }
        Ok(Snapshot {
            bytes: size_of(&path),
            made_in,
            made_at: SystemTime::now(),
            sources: sources.to_vec(),
            refused: None,
            path,
        })
    }

    /// Its cost and place, for the target's facts.
    pub fn facts(&self, facts: &mut Facts) {
        facts.insert("snapshot".into(), json!(self.path.display().to_string()));
        facts.insert("snapshot_bytes".into(), json!(self.bytes));
        facts.insert(
            "snapshot_make_ns".into(),
            json!(self.made_in.as_nanos() as u64),
        );
    }

    /// Whether an instance may be restored from it: it is still there, and
    /// nothing it was made from changed after it was made.
    pub fn check(&self) -> Result<(), String> {
        if !self.path.exists() {
            return Err(format!(
                "the snapshot {} is gone: it is made in prepare; run again",
                self.path.display()
            ));
        }
        for source in &self.sources {
            let changed = std::fs::metadata(source).and_then(|m| m.modified());
            if changed.is_ok_and(|t| t > self.made_at) {
                return Err(format!(
                    "the snapshot is stale: {} changed after it was made; run again to make a new one",
                    source.display()
                ));
            }
        }
        Ok(())
    }

    /// [`Snapshot::check`], kept for the restore that follows: run untimed
    /// (in [`super::Target::ready`]), so that no file is looked at on the
    /// restore's clock.
    pub fn recheck(&mut self) {
        self.refused = self.check().err();
    }

    /// Removes it, and its folders once they are empty.
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_file(&self.path);
        let mut folder = self.path.parent();
        for _ in 0..3 {
            match folder {
                Some(f) if std::fs::remove_dir(f).is_ok() => folder = f.parent(),
                _ => break,
            }
        }
    }
}

/// A snapshot goes with its target: made for one run, never reused.
impl Drop for Snapshot {
    fn drop(&mut self) {
        self.remove();
    }
}

/// What a target says of its restore: the mechanism, or why it has none (the
/// snapshot not made, or no mechanism here).
pub fn support<T>(mechanism: &str, made: &Made<T>) -> Result<String, String> {
    match made {
        None | Some(Ok(_)) => Ok(mechanism.to_string()),
        Some(Err(why)) => Err(format!("the snapshot could not be made: {why}")),
    }
}

/// The snapshot to restore from, as the last [`Snapshot::recheck`] found
/// it; or the restore's error.
pub fn ready<T: AsRef<Snapshot>>(made: &Made<T>) -> Result<&T, TargetError> {
    match made {
        Some(Ok(s)) => match &s.as_ref().refused {
            Some(why) => Err(TargetError::Start(why.clone())),
            None => Ok(s),
        },
        Some(Err(why)) => Err(TargetError::Start(format!(
            "no snapshot to restore from: {why}"
        ))),
        None => Err(TargetError::Start(
            "no snapshot: prepare makes one only when the plan has the restore phase".into(),
        )),
    }
}

/// What `criu check` says of this kernel, asked once per process.
pub fn criu_check() -> Result<(), String> {
    static CHECKED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let Some(criu) = super::spawn::resolve(Path::new("criu")) else {
                return Err(
                    "criu is not installed (`just setup` installs it: apt-get install criu)".into(),
                );
            };
            match std::process::Command::new(&criu).arg("check").output() {
                Ok(out) if out.status.success() => Ok(()),
                Ok(out) => {
                    let said = String::from_utf8_lossy(&out.stderr).to_string()
                        + &String::from_utf8_lossy(&out.stdout);
                    // Its first error, without the source position:
                    // `Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds`.
                    let line = said
                        .lines()
                        .find(|l| l.starts_with("Error"))
                        .or_else(|| said.lines().find(|l| !l.trim().is_empty()))
                        .unwrap_or("no output");
                    let reason = line.split_once("): ").map_or(line, |(_, r)| r).trim();
                    Err(format!(
                        "`criu check` fails on this kernel ({}): {}",
                        out.status,
                        crate::spec::truncate(reason, 200)
                    ))
                }
                Err(e) => Err(format!("cannot run {}: {e}", criu.display())),
            }
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_refused_when_missing_or_older_than_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("artifact");
        std::fs::write(&source, b"v1").unwrap();
        let snap = Snapshot::make(
            dir.path().join("snap"),
            std::slice::from_ref(&source),
            |p| std::fs::write(p, vec![7u8; 10_000]).map_err(|e| e.to_string()),
        )
        .unwrap();
        assert!(snap.bytes >= 10_000, "{}", snap.bytes);
        assert_eq!(snap.check(), Ok(()));
        // The artifact rebuilt after the snapshot: stale.
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&source)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(snap.check().unwrap_err().contains("stale"), "stale");
        // A restore is refused by what the last (untimed) recheck found.
        let mut made = Some(Ok(snap));
        assert!(ready(&made).is_ok(), "not rechecked yet");
        if let Some(Ok(s)) = made.as_mut() {
            s.recheck();
        }
        let err = ready(&made).err().unwrap().to_string();
        assert!(err.contains("stale"), "{err}");
        let Some(Ok(snap)) = made else { unreachable!() };
        snap.remove();
        assert!(snap.check().unwrap_err().contains("is gone"));
        let never = Snapshot::make(dir.path().join("never"), &[], |_| Ok(()));
        assert!(never.unwrap_err().contains("was not written"));
        assert!(ready::<Snapshot>(&None).is_err());
        assert!(support::<Snapshot>("m", &Some(Err("boom".into())))
            .unwrap_err()
            .contains("boom"));
    }
}
