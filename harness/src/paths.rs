//! Where coldbench finds its inputs and the artifacts `just build` makes.

use std::path::{Path, PathBuf};

/// The project's folders, found once at start.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The checkout: holds `workloads/`, `targets/`.
    pub root: PathBuf,
    /// Built things: the static function server, later guest modules, images.
    pub artifacts: PathBuf,
}

/// The project folder could not be found.
#[derive(Debug, thiserror::Error)]
#[error("cannot find the coldbench checkout (looked for {0}/workloads/spec/workloads.json): run coldbench from the checkout or set COLDBENCH_ROOT")]
pub struct RootNotFound(pub String);

impl Paths {
    /// `$COLDBENCH_ROOT`, else the checkout this binary was built from, else
    /// the current directory. `$COLDBENCH_ARTIFACTS` overrides `<root>/artifacts`.
    pub fn discover() -> Result<Paths, RootNotFound> {
        let candidates: Vec<PathBuf> = match std::env::var_os("COLDBENCH_ROOT") {
            Some(root) => vec![PathBuf::from(root)],
            None => vec![
                Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
                PathBuf::from("."),
            ],
        };
        let root = candidates
            .iter()
            .find(|c| c.join("workloads/spec/workloads.json").is_file())
            .ok_or_else(|| RootNotFound(candidates[0].display().to_string()))?;
        let root = root.canonicalize().unwrap_or_else(|_| root.clone());
        Ok(Paths::at(root))
    }

    /// The layout below a known root.
    pub fn at(root: PathBuf) -> Paths {
        let artifacts = std::env::var_os("COLDBENCH_ARTIFACTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("artifacts"));
        Paths { root, artifacts }
    }

    /// `workloads/spec/workloads.json`.
    pub fn spec(&self) -> PathBuf {
        self.root.join("workloads/spec/workloads.json")
    }

    /// A file under the artifacts folder.
    pub fn artifact(&self, name: &str) -> PathBuf {
        self.artifacts.join(name)
    }
}
