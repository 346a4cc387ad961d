//! The burn backends a binary has, chosen at run time.
//!
//! Library code is generic over `B: Backend`; a binary picks the backend at its edge. This
//! crate maps a name and device index given by the user (`flex`, `ndarray`, `wgpu:0`,
//! `cuda:1`) to a concrete backend type and runs a [`BackendTask`] with it. wgpu also takes
//! an adapter kind: `wgpu:integrated:0`, `wgpu:virtual:0`, `wgpu:cpu` (a software Vulkan
//! driver such as lavapipe) or `wgpu:default` (whatever wgpu picks); `wgpu:N` is discrete
//! GPU N.
//!
//! LibTorch (`tch`) runs on the CPU (`tch` or `tch:cpu`) or a CUDA GPU (`tch:cuda:N`).
//!
//! Cargo features decide which backends are compiled in: `ndarray` and `flex` (CPU) by
//! default, `wgpu`, `cuda` and `tch` on request. Asking for one that is not compiled in is an
//! error that lists those that are.

use std::fmt;
use std::str::FromStr;

use burn::tensor::ElementConversion;
use nas_core::backend::NasAutodiffBackend;
use thiserror::Error;

/// A backend family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// burn's ndarray CPU backend.
    NdArray,
    /// burn's Flex CPU backend (the faster CPU backend for convolutions' backward passes).
    Flex,
    /// burn's wgpu backend (Vulkan, Metal, DirectX; a CPU Vulkan driver also works).
    Wgpu,
    /// burn's CUDA backend (the driver is loaded at run time).
    Cuda,
    /// burn's LibTorch backend, with libtorch's own convolution backward (CPU or CUDA).
    Tch,
}

impl BackendKind {
    /// Every backend family, compiled in or not.
    pub const ALL: [BackendKind; 5] = [
        BackendKind::Flex,
        BackendKind::NdArray,
        BackendKind::Wgpu,
        BackendKind::Cuda,
        BackendKind::Tch,
    ];

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::NdArray => "ndarray",
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
            BackendKind::Tch => "tch",
        }
    }

    /// Whether this binary was compiled with it.
    pub fn compiled(self) -> bool {
        match self {
            BackendKind::NdArray => cfg!(feature = "ndarray"),
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
            BackendKind::Tch => cfg!(feature = "tch"),
        }
    }

    /// Where it runs, in a few words (for `nas backends`).
    pub fn devices(self) -> &'static str {
        match self {
            BackendKind::NdArray | BackendKind::Flex => "CPU",
            BackendKind::Wgpu => "GPU, devices :0, :1, ... (:cpu for a software Vulkan driver)",
            BackendKind::Cuda => "GPU, devices :0, :1, ...",
            BackendKind::Tch => "CPU (tch:cpu) or CUDA GPU (tch:cuda:0, ...)",
        }
    }

    /// The adapter kinds it takes (see [`Adapter`]), and the one it uses when none is given.
    fn adapters(self) -> (&'static [Adapter], Adapter) {
        match self {
            BackendKind::Wgpu => (
                &[
                    Adapter::Integrated,
                    Adapter::Virtual,
                    Adapter::Cpu,
                    Adapter::Default,
                ],
                Adapter::Discrete,
            ),
            BackendKind::Tch => (&[Adapter::Cpu, Adapter::Cuda], Adapter::Cpu),
            _ => (&[], Adapter::Discrete),
        }
    }

    /// Whether it runs on a CPU only (and so has a single device, index 0).
    pub fn is_cpu(self) -> bool {
        matches!(self, BackendKind::NdArray | BackendKind::Flex)
    }
}

/// The backends compiled into this binary, default first.
pub fn available() -> Vec<BackendKind> {
    BackendKind::ALL
        .into_iter()
        .filter(|k| k.compiled())
        .collect()
}

/// Which kind of device to use: wgpu's adapter kinds, and LibTorch's CPU or CUDA (other
/// backends ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Adapter {
    /// A discrete GPU (the default, as `wgpu:N`).
    #[default]
    Discrete,
    /// An integrated GPU (`wgpu:integrated:N`).
    Integrated,
    /// A virtual GPU (`wgpu:virtual:N`).
    Virtual,
    /// A CPU adapter, e.g. a software Vulkan driver (`wgpu:cpu`).
    Cpu,
    /// The adapter wgpu picks by itself (`wgpu:default`).
    Default,
    /// A CUDA GPU through LibTorch (`tch:cuda:N`).
    Cuda,
}

impl Adapter {
    const NAMED: [(&'static str, Adapter); 5] = [
        ("integrated", Adapter::Integrated),
        ("virtual", Adapter::Virtual),
        ("cpu", Adapter::Cpu),
        ("default", Adapter::Default),
        ("cuda", Adapter::Cuda),
    ];

    fn word(self) -> &'static str {
        Adapter::NAMED
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("", |(w, _)| w)
    }

    /// Whether the adapter kind has several devices, told apart by an index.
    pub fn indexed(self) -> bool {
        matches!(
            self,
            Adapter::Discrete | Adapter::Integrated | Adapter::Virtual | Adapter::Cuda
        )
    }
}

/// A backend and a device index, e.g. `cuda:1`; the index defaults to 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackendSpec {
    /// The backend family.
    pub kind: BackendKind,
    /// The device index.
    pub index: usize,
    /// The kind of wgpu adapter ([`Adapter::Discrete`] for every other backend).
    pub adapter: Adapter,
}

impl fmt::Display for BackendSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.kind.name();
        match (self.adapter, self.adapter.word()) {
            (_, "") => write!(f, "{name}:{}", self.index),
            (a, word) if a.indexed() => write!(f, "{name}:{word}:{}", self.index),
            (_, word) => write!(f, "{name}:{word}"),
        }
    }
}

/// A backend that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The name is not a backend at all.
    #[error("unknown backend '{given}' (this binary has: {})", names(&available()))]
    Unknown {
        /// What was given.
        given: String,
    },
    /// A known backend this binary was built without.
    #[error("backend '{name}' is not compiled into this binary (it has: {}); rebuild with `--features {name}`", names(&available()))]
    NotCompiled {
        /// The backend asked for.
        name: &'static str,
    },
    /// The backend is compiled in but has no usable device (no GPU, no driver, or an
    /// index beyond the devices present).
    #[error("no device found for backend '{spec}': {detail}")]
    NoDevice {
        /// The backend and index asked for.
        spec: String,
        /// What the backend reported.
        detail: String,
    },
    /// A device index that cannot be right.
    #[error("bad device in '{given}': {reason}")]
    Device {
        /// What was given.
        given: String,
        /// Why it is wrong.
        reason: String,
    },
}

fn names(kinds: &[BackendKind]) -> String {
    if kinds.is_empty() {
        return "none".into();
    }
    kinds
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for BackendSpec {
    type Err = BackendError;

    /// Parses `name` or `name:index` (and for wgpu `name:adapter[:index]`, see
    /// [`Adapter`]), and checks that the backend is compiled in.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| BackendError::Device {
            given: s.to_string(),
            reason,
        };
        let mut parts = s.trim().split(':');
        let name = parts.next().unwrap_or("");
        let mut rest: Vec<&str> = parts.collect();
        let kind = BackendKind::ALL
            .into_iter()
            .find(|k| k.name() == name.to_ascii_lowercase());
        let (allowed, default) = kind.map_or((&[][..], Adapter::Discrete), |k| k.adapters());
        let adapter = match rest.first() {
            Some(word) => match Adapter::NAMED
                .iter()
                .find(|(w, _)| w.eq_ignore_ascii_case(word))
            {
                Some((_, a)) => {
                    if !allowed.contains(a) {
                        return Err(bad(format!(
                            "'{word}' is not a device kind of '{name}' (adapter kinds are for \
                             wgpu: integrated, virtual, cpu, default; and tch: cpu, cuda)"
                        )));
                    }
                    rest.remove(0);
                    *a
                }
                None if kind == Some(BackendKind::Tch) => {
                    return Err(bad("LibTorch devices are 'tch:cpu' and 'tch:cuda:N'".into()));
                }
                None => default,
            },
            None => default,
        };
        let index = match rest.as_slice() {
            [] => 0,
            [i] if adapter.indexed() => i
                .parse::<usize>()
                .map_err(|_| bad(format!("'{i}' is not a device index")))?,
            [i] => return Err(bad(format!("'{i}': this adapter kind takes no index"))),
            _ => return Err(bad("too many ':' parts".into())),
        };
        let kind = kind.ok_or_else(|| BackendError::Unknown {
            given: s.to_string(),
        })?;
        if !kind.compiled() {
            return Err(BackendError::NotCompiled { name: kind.name() });
        }
        if kind.is_cpu() && index != 0 {
            return Err(BackendError::Device {
                given: s.to_string(),
                reason: format!("{} runs on the CPU and has only device 0", kind.name()),
            });
        }
        Ok(BackendSpec {
            kind,
            index,
            adapter,
        })
    }
}

/// Work to run on whichever backend the user chose: written once, generic over the
/// (autodiff) backend.
pub trait BackendTask {
    /// What the work returns.
    type Output;
    /// Runs the work on backend `B` and device `device`.
    fn run<B: NasAutodiffBackend>(self, device: B::Device) -> Self::Output;
}

/// Checks that `device` works by making a small tensor on it and reading it back.
///
/// GPU backends report a missing driver or device by panicking deep inside their
/// runtime; this turns that into [`BackendError::NoDevice`] (the panic message is kept,
/// the default panic report is silenced while probing).
pub fn probe<B: burn::tensor::backend::Backend>(
    spec: BackendSpec,
    device: &B::Device,
) -> Result<(), BackendError> {
    use burn::tensor::Tensor;
    // Runtimes may fail on a worker thread first; keep every panic message, in order,
    // and report the first one (the cause; later ones are its consequences).
    let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let previous = std::panic::take_hook();
    {
        let messages = messages.clone();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the backend failed to start".into());
            if let Ok(mut m) = messages.lock() {
                m.push(text);
            }
        }));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let t = Tensor::<B, 1>::from_floats([1.0, 2.0, 3.0], device);
        t.sum().into_scalar().elem::<f32>()
    }));
    std::panic::set_hook(previous);
    let detail = match result {
        Ok(v) if (v - 6.0).abs() < 1e-6 => return Ok(()),
        Ok(v) => format!("a test sum came back as {v} instead of 6"),
        Err(_) => messages
            .lock()
            .ok()
            .and_then(|m| m.first().cloned())
            .unwrap_or_else(|| "the backend failed to start".into()),
    };
    Err(BackendError::NoDevice {
        spec: spec.to_string(),
        detail: detail.lines().next().unwrap_or("").to_string(),
    })
}

/// Runs `task` on the backend and device of `spec`, after a [`probe`] of the device.
pub fn run<T: BackendTask>(spec: BackendSpec, task: T) -> Result<T::Output, BackendError> {
    match spec.kind {
        BackendKind::NdArray => {
            #[cfg(feature = "ndarray")]
            {
                use burn::backend::{Autodiff, NdArray, ndarray::NdArrayDevice};
                return Ok(task.run::<Autodiff<NdArray<f32>>>(NdArrayDevice::Cpu));
            }
        }
        BackendKind::Flex => {
            #[cfg(feature = "flex")]
            {
                use burn::backend::{Autodiff, Flex, flex::FlexDevice};
                return Ok(task.run::<Autodiff<Flex>>(FlexDevice));
            }
        }
        BackendKind::Wgpu => {
            #[cfg(feature = "wgpu")]
            {
                use burn::backend::{Autodiff, Wgpu, wgpu::WgpuDevice};
                let device = match spec.adapter {
                    // `wgpu:cuda` does not parse; a spec built by hand with it means a GPU.
                    crate::Adapter::Discrete | crate::Adapter::Cuda => {
                        WgpuDevice::DiscreteGpu(spec.index)
                    }
                    crate::Adapter::Integrated => WgpuDevice::IntegratedGpu(spec.index),
                    crate::Adapter::Virtual => WgpuDevice::VirtualGpu(spec.index),
                    crate::Adapter::Cpu => WgpuDevice::Cpu,
                    crate::Adapter::Default => WgpuDevice::DefaultDevice,
                };
                probe::<Wgpu>(spec, &device)?;
                return Ok(task.run::<Autodiff<Wgpu>>(device));
            }
        }
        BackendKind::Cuda => {
            #[cfg(feature = "cuda")]
            {
                use burn::backend::{Autodiff, Cuda, cuda::CudaDevice};
                let device = CudaDevice::new(spec.index);
                probe::<Cuda>(spec, &device)?;
                return Ok(task.run::<Autodiff<Cuda>>(device));
            }
        }
        BackendKind::Tch => {
            #[cfg(feature = "tch")]
            {
                use burn::backend::{Autodiff, LibTorch, libtorch::LibTorchDevice};
                use nas_core::backend::libtorch;
                // libtorch's threads follow rayon's setting (workers and Slurm tasks set it).
                if let Some(n) = std::env::var("RAYON_NUM_THREADS")
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
                {
                    libtorch::set_threads(n);
                }
                let device = match spec.adapter {
                    crate::Adapter::Cuda => {
                        let found = libtorch::cuda_devices();
                        if spec.index >= found {
                            return Err(BackendError::NoDevice {
                                spec: spec.to_string(),
                                detail: if found == 0 {
                                    "libtorch sees no CUDA device (no GPU or driver, or a \
                                     CPU-only PyTorch)"
                                        .into()
                                } else {
                                    format!(
                                        "libtorch sees {found} CUDA device(s), :0 to :{}",
                                        found - 1
                                    )
                                },
                            });
                        }
                        LibTorchDevice::Cuda(spec.index)
                    }
                    _ => LibTorchDevice::Cpu,
                };
                probe::<LibTorch<f32>>(spec, &device)?;
                return Ok(task.run::<Autodiff<LibTorch<f32>>>(device));
            }
        }
    }
    #[allow(unreachable_code)]
    Err(BackendError::NotCompiled {
        name: spec.kind.name(),
    })
}
