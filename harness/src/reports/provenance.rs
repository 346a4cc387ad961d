//! Where a result comes from: the binary's version and commit, the CPU's instruction-set
//! extensions (which CPU results depend on), the machine and the command line. Every
//! report embeds a [`Provenance`].

use serde::{Deserialize, Serialize};

/// Where a report comes from. Flattened into each report's JSON (`version`, `cpu`,
/// `machine`, `command`), so reports written before this struct read back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Version of the `nas` crate and the commit it was built from ([`version`]).
    #[serde(default)]
    pub version: String,
    /// The CPU's instruction-set extensions that CPU results depend on: CPU backends
    /// give bit-identical results on machines where this agrees ([`cpu_extensions`]).
    #[serde(default)]
    pub cpu: String,
    /// Cores, processor and memory of the machine ([`machine`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub machine: String,
    /// The command line that wrote the report ([`command_line`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
}

impl Provenance {
    /// This binary, this machine, this command.
    pub fn here() -> Provenance {
        Provenance {
            version: version(),
            cpu: cpu_extensions(),
            machine: machine(),
            command: command_line(),
        }
    }
}

/// The commit the binary was built from (`-dirty`: with uncommitted changes).
pub const COMMIT: &str = env!("NAS_GIT_COMMIT");

/// Which Slurm job computes in this process: `slurm:JOB_TASK` in an array task (the
/// array's job id and the task's index), `slurm:JOB` in another Slurm job, `None`
/// outside Slurm. Results record it as `computed_by`, so that a check can tell which
/// units an array's tasks computed and which a merge computed itself.
pub fn slurm_origin() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("slurm:{job}_{task}")),
        _ => var("SLURM_JOB_ID").map(|job| format!("slurm:{job}")),
    }
}

/// [`slurm_origin`], or `local` outside Slurm.
pub fn computed_by() -> String {
    slurm_origin().unwrap_or_else(|| "local".to_string())
}

/// `0.1.0 (abcdef123456)`: the crate version and the commit of the binary.
pub fn version() -> String {
    format!("{} ({COMMIT})", env!("CARGO_PKG_VERSION"))
}

/// The instruction-set extensions of this CPU that the CPU backends' kernels choose
/// between at run time, e.g. `x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx2+fma+f16c+bmi2`.
/// Each kernel sums in its own order, so CPU results are bit-identical across machines
/// whose extensions agree, and drift (from the last bits on) where they do not.
pub fn cpu_extensions() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let detected = [
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
            ("avx512bw", std::is_x86_feature_detected!("avx512bw")),
            ("avx512cd", std::is_x86_feature_detected!("avx512cd")),
            ("avx512dq", std::is_x86_feature_detected!("avx512dq")),
            ("avx512vl", std::is_x86_feature_detected!("avx512vl")),
            ("avx512fp16", std::is_x86_feature_detected!("avx512fp16")),
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("fma", std::is_x86_feature_detected!("fma")),
            ("f16c", std::is_x86_feature_detected!("f16c")),
            ("bmi2", std::is_x86_feature_detected!("bmi2")),
            ("sse4.1", std::is_x86_feature_detected!("sse4.1")),
        ];
        std::iter::once("x86_64")
            .chain(detected.iter().filter(|(_, on)| *on).map(|(name, _)| *name))
            .collect::<Vec<_>>()
            .join("+")
    }
    #[cfg(target_arch = "aarch64")]
    {
        let fp16 = std::arch::is_aarch64_feature_detected!("fp16");
        if fp16 {
            "aarch64+fp16".into()
        } else {
            "aarch64".into()
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        std::env::consts::ARCH.to_string()
    }
}

/// `2 cores (AMD EPYC 7B13), 23 GiB` from what the OS says (Linux; less elsewhere).
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let field = |file: &str, name: &str| {
        std::fs::read_to_string(file).ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
    };
    let cpu = field("/proc/cpuinfo", "model name").unwrap_or_else(|| std::env::consts::ARCH.into());
    let mem = field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| format!(", {:.0} GiB", kib / (1024.0 * 1024.0)))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}){mem}")
}

/// The command line as typed, shell-quoted where needed, the program called `nas`.
pub fn command_line() -> String {
    let quote = |a: String| {
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
        if plain {
            a
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    std::iter::once("nas".to_string())
        .chain(std::env::args().skip(1).map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}
