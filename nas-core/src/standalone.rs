//! Stand-alone models: one architecture, only its operations, trained from scratch.

use crate::backend::NasBackend;
use burn::module::Module;
use burn::tensor::Tensor;

use crate::init::SeededInit;
use crate::network::{Network, NetworkMask, Trace};
use crate::ops::{LayerConfig, NormMode};
use crate::space::{Architecture, SearchSpace, SpaceError};

/// A network holding only the operations of one architecture.
///
/// It is built from the same modules and runs through the same forward code as the
/// [`Supernet`](crate::supernet::Supernet), so with the supernet's weights copied in
/// (see [`Supernet::standalone`](crate::supernet::Supernet::standalone)) and batch
/// statistics it computes exactly what the supernet computes with that architecture's
/// paths on.
#[derive(Module, Debug)]
pub struct StandaloneModel<B: NasBackend> {
    /// Only the architecture's operation slots are filled.
    pub net: Network<B>,
    /// The space the architecture belongs to.
    #[module(skip)]
    pub space: SearchSpace,
    /// The architecture.
    #[module(skip)]
    pub architecture: Architecture,
    #[module(skip)]
    mask: NetworkMask,
}

impl<B: NasBackend> StandaloneModel<B> {
    /// A freshly initialised model of `arch`, its weights drawn from `seed` on the host
    /// ([`crate::init`]): the same on every backend.
    pub fn new(
        space: &SearchSpace,
        arch: &Architecture,
        cfg: &LayerConfig,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self, SpaceError> {
        space.validate()?;
        space.check(arch)?;
        let mask = NetworkMask::from_architecture(space, arch);
        let net = Network::new(space, cfg, device, |c, b, o| mask.cells[c].blocks[b].ops[o]);
        Ok(StandaloneModel {
            net: net.map(&mut SeededInit::new(seed, device)),
            space: space.clone(),
            architecture: arch.clone(),
            mask,
        })
    }

    pub(crate) fn from_parts(net: Network<B>, space: SearchSpace, arch: Architecture) -> Self {
        let mask = NetworkMask::from_architecture(&space, &arch);
        StandaloneModel {
            net,
            space,
            architecture: arch,
            mask,
        }
    }

    /// Logits. Use [`NormMode::BatchUpdateRunning`] in training and
    /// [`NormMode::Running`] (or [`NormMode::Batch`]) in evaluation.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, height, width]`; output: `[batch, classes]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 2> {
        self.net
            .forward_mask(x, &self.mask, mode, 0, &mut Trace::default())
    }
}
