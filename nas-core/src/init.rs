//! Seeded parameter initialisation on the host: the same seed gives the same initial
//! weights, bit for bit, on every backend.
//!
//! burn's initialisers draw from each backend's own generator, so one seed builds
//! different networks on Flex, NdArray, wgpu and CUDA. [`SeededInit`] redraws every
//! convolution and linear parameter of a freshly built module from a seeded generator on
//! the host ([`StdRng`], values drawn with `rand_distr`), then moves them to the device.
//! The distribution is burn's default for these layers, so nothing else changes: Kaiming
//! uniform with gain `1/sqrt(3)`, i.e. `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with `fan_in =
//! in_channels / groups * kernel_h * kernel_w` for a convolution's weights (and bias) and
//! `d_input` for a linear layer's weights and bias, drawn as `f32`. Normalisation layers
//! keep their constant initial values (`gamma = 1`, `beta = 0`, running mean 0, variance 1).
//!
//! Parameters are drawn in the order the module visits them (its fields in declaration
//! order), so the weights depend on the seed and the network's structure only.

use burn::module::{ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

/// A [`ModuleMapper`] that redraws convolution and linear parameters from a seeded
/// host generator (see the module documentation for the distribution).
pub struct SeededInit<B: Backend> {
    rng: StdRng,
    device: B::Device,
    /// Container types of the submodules entered (`Struct:Conv2d`, ...).
    stack: Vec<String>,
    /// The fan-in of the last weight drawn, for the bias that follows it.
    fan_in: usize,
    /// Parameters drawn so far.
    drawn: usize,
}

impl<B: Backend> SeededInit<B> {
    /// An initialiser drawing from `seed`, placing parameters on `device`.
    pub fn new(seed: u64, device: &B::Device) -> Self {
        SeededInit {
            rng: StdRng::seed_from_u64(seed ^ 0x1A17_5EED),
            device: device.clone(),
            stack: Vec::new(),
            fan_in: 1,
            drawn: 0,
        }
    }

    /// How many parameters (tensors) it has drawn.
    pub fn drawn(&self) -> usize {
        self.drawn
    }

    /// `n` values of `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    fn uniform(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        let a = (1.0 / (fan_in.max(1) as f64).sqrt()) as f32;
        // `a` is finite and positive, so the range is valid.
        let d = Uniform::new_inclusive(-a, a).expect("a valid uniform range");
        (0..n).map(|_| d.sample(&mut self.rng)).collect()
    }
}

impl<B: Backend> ModuleMapper<B> for SeededInit<B> {
    fn enter_module(&mut self, _name: &str, container_type: &str) {
        self.stack.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let dims: Vec<usize> = param.lazy_shape().dims::<D>().to_vec();
        let fan_in = match (self.stack.last().map(String::as_str), D) {
            (Some("Struct:Conv2d"), 4) => dims[1] * dims[2] * dims[3],
            (Some("Struct:Linear"), 2) => dims[0],
            // A bias: the fan-in of its layer's weight, visited just before it.
            (Some("Struct:Conv2d" | "Struct:Linear"), 1) => self.fan_in,
            _ => return param,
        };
        self.fan_in = fan_in;
        self.drawn += 1;
        let n = dims.iter().product();
        let values = self.uniform(n, fan_in);
        let tensor = Tensor::<B, D>::from_data(TensorData::new(values, dims), &self.device);
        Param::initialized(param.id, tensor.require_grad())
    }
}
