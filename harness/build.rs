//! Records the commit the `nas` binary is built from (`NAS_GIT_COMMIT`), so that reports
//! can name it: the abbreviated hash, with `-dirty` when tracked files differed from it,
//! or `unknown` outside a git checkout (e.g. a source tarball).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) => {
            let dirty = git(&[
                "--no-optional-locks",
                "status",
                "--porcelain",
                "--untracked-files=no",
            ])
            .is_some_and(|s| !s.is_empty());
            if dirty { format!("{hash}-dirty") } else { hash }
        }
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=NAS_GIT_COMMIT={commit}");
    // Build again when the commit or the sources change (so `-dirty` stays true).
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for f in ["HEAD", "index"] {
            println!("cargo:rerun-if-changed={dir}/{f}");
        }
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    // With the LibTorch backend: record where libtorch is as the binary's rpath, so that
    // `nas` runs without LD_LIBRARY_PATH (scripts/setup-libtorch.sh sets the variable).
    println!("cargo:rerun-if-env-changed=NAS_LIBTORCH_LIB");
    if std::env::var_os("CARGO_FEATURE_TCH").is_some()
        && let Ok(lib) = std::env::var("NAS_LIBTORCH_LIB")
    {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    for src in ["src", "../nas-core/src", "../backends/src", "../strategies"] {
        println!("cargo:rerun-if-changed={src}");
    }
}
