//! Supernet tests: shapes, the supernet/stand-alone equality, skipped paths, path
//! dropout statistics, ghost batches and L2 on active paths only.

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, ElementConversion, Tensor};
use nas_core::network::{NetworkMask, Plan};
use nas_core::ops::{LayerConfig, NormMode};
use nas_core::space::{Architecture, Block, OpKind, SearchSpace};
use nas_core::standalone::StandaloneModel;
use nas_core::supernet::{AllDropped, DropPathConfig, DropSchedule, Supernet};
use rand::SeedableRng;
use rand::rngs::StdRng;

type Cpu = Flex;
type Ad = Autodiff<Cpu>;

fn small(stacks: usize, cells_per_stack: usize, filters: usize, input: [usize; 3]) -> SearchSpace {
    SearchSpace {
        stacks,
        cells_per_stack,
        filters,
        classes: 5,
        input_shape: input,
        ..SearchSpace::default()
    }
}

fn input<B: Backend>(n: usize, shape: [usize; 3], seed: u64) -> Tensor<B, 4> {
    let device = Default::default();
    B::seed(&device, seed);
    Tensor::random(
        [n, shape[0], shape[1], shape[2]],
        Distribution::Normal(0.0, 1.0),
        &device,
    )
}

fn max_abs_diff<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> f32 {
    a.sub(b).abs().max().into_scalar().elem()
}

#[test]
fn output_shapes_for_several_configs() {
    let device = Default::default();
    for (space, n) in [
        (small(2, 1, 4, [1, 8, 8]), 3),
        (small(3, 1, 6, [3, 12, 12]), 2),
        (small(3, 2, 4, [1, 9, 7]), 4),
        (small(2, 1, 8, [3, 16, 16]), 1),
    ] {
        let net = Supernet::<Cpu>::new(&space, &LayerConfig::new(), 0, &device).unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let arch = space.sample(&mut rng);
        let x = input::<Cpu>(n, space.input_shape, 1);
        assert_eq!(net.forward_architecture(x.clone(), &arch).dims(), [n, 5]);
        let all = Plan {
            ghosts: vec![NetworkMask::all_on(&space)],
        };
        assert_eq!(net.forward(x, &all).dims(), [n, 5]);
    }
}

/// The core invariant: with exactly one architecture's paths on, the supernet computes
/// the same logits as the stand-alone model holding the supernet's weights, both with
/// batch statistics.
#[test]
fn supernet_equals_standalone_with_copied_weights() {
    let device = Default::default();
    for (si, space) in [
        small(3, 1, 4, [1, 8, 8]),
        small(2, 2, 6, [3, 9, 9]),
        SearchSpace {
            max_inputs: 1,
            max_ops: 3,
            ..small(2, 1, 4, [1, 8, 8])
        },
    ]
    .into_iter()
    .enumerate()
    {
        let supernet =
            Supernet::<Cpu>::new(&space, &LayerConfig::new(), si as u64, &device).unwrap();
        // Train-like weights: give every normalisation a non-trivial scale and shift.
        let supernet = supernet.map(&mut Perturb);
        let mut rng = StdRng::seed_from_u64(10 + si as u64);
        for _ in 0..4 {
            let arch = space.sample(&mut rng);
            let x = input::<Cpu>(6, space.input_shape, 3);
            let one_shot = supernet.forward_architecture(x.clone(), &arch);
            let alone = supernet.standalone(&arch).unwrap();
            let stand = alone.forward(x, NormMode::Batch);
            let diff = max_abs_diff(one_shot.clone(), stand);
            assert!(diff < 1e-4, "{arch}: max |diff| = {diff}");
            // The check has teeth: a different architecture gives different logits. (The
            // last cell's blocks all feed the classifier, so change one of its blocks.)
            let mut other = arch.clone();
            let first = &mut other.normal.blocks[0];
            let ops = if first.ops() == [OpKind::SepConv3] {
                vec![OpKind::SepConv5]
            } else {
                vec![OpKind::SepConv3]
            };
            *first = Block::new(first.inputs().to_vec(), ops);
            let y = input::<Cpu>(6, space.input_shape, 3);
            let d2 = max_abs_diff(one_shot, supernet.forward_architecture(y, &other));
            assert!(d2 > 1e-3, "{other} and {arch} gave the same logits ({d2})");
        }
    }
}

/// Adds noise to every parameter so no weight is at its initial constant.
struct Perturb;
impl<B: Backend> burn::module::ModuleMapper<B> for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, t, mapper) = param.consume();
        let noise = t.random_like(Distribution::Normal(0.0, 0.3));
        Param::from_mapped_value(id, t.add(noise), mapper)
    }
}

#[test]
fn standalone_holds_only_its_ops() {
    let device = Default::default();
    let space = small(2, 1, 4, [1, 8, 8]);
    let arch = space
        .parse("N=0:sep3/1:id/0,2:max3,sep5/4:c17;R=0,1:avg3/2:sep7/3:id/1,4:sep3")
        .unwrap();
    let m = StandaloneModel::<Cpu>::new(&space, &arch, &LayerConfig::new(), 0, &device).unwrap();
    for (ci, cell) in m.net.cells.iter().enumerate() {
        let g = arch.genotype(space.cell_sites()[ci].kind);
        for (b, block) in cell.blocks.iter().enumerate() {
            for (oi, slot) in block.ops.iter().enumerate() {
                assert_eq!(
                    slot.is_some(),
                    g.blocks[b].ops().contains(&space.ops[oi]),
                    "cell {ci} block {b} op {oi}"
                );
            }
        }
    }
    let super_params = Supernet::<Cpu>::new(&space, &LayerConfig::new(), 0, &device)
        .unwrap()
        .num_params();
    assert!(m.num_params() < super_params);
}

/// Ids of parameters, per operation slot, with a flag for whether the plan computes it.
fn op_params(net: &Supernet<Ad>, plan: &Plan) -> Vec<(bool, Vec<(ParamId, usize)>)> {
    let mut out = Vec::new();
    for (ci, cell) in net.net.cells.iter().enumerate() {
        for (bi, block) in cell.blocks.iter().enumerate() {
            for (oi, slot) in block.ops.iter().enumerate() {
                let op = slot.as_ref().unwrap();
                let mut v = GradProbe::default();
                op.visit(&mut v);
                out.push((plan.computes(ci, bi, oi), v.0));
            }
        }
    }
    out
}

/// Ids and ranks of trainable parameters (running statistics are visited as float
/// tensors too, but do not require gradients).
#[derive(Default)]
struct GradProbe(Vec<(ParamId, usize)>);
impl<B: Backend> ModuleVisitor<B> for GradProbe {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if param.val().is_require_grad() {
            self.0.push((param.id, D));
        }
    }
}

/// Whether `id` has a gradient, and whether any entry of it is non-zero.
fn grad_of(
    net: &Supernet<Ad>,
    grads: &<Ad as burn::tensor::backend::AutodiffBackend>::Gradients,
    id: ParamId,
) -> Option<bool> {
    struct Find<'a> {
        id: ParamId,
        grads: &'a <Ad as burn::tensor::backend::AutodiffBackend>::Gradients,
        found: Option<Option<bool>>,
    }
    impl ModuleVisitor<Ad> for Find<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Ad, D>>) {
            if param.id == self.id {
                self.found = Some(param.grad(self.grads).map(|g| {
                    let m: f32 = g.abs().max().into_scalar();
                    m > 0.0
                }));
            }
        }
    }
    let mut f = Find {
        id,
        grads,
        found: None,
    };
    net.visit(&mut f);
    f.found.expect("parameter not found")
}

#[test]
fn ops_that_are_off_are_not_computed_and_get_no_gradient() {
    let device = Default::default();
    let space = small(2, 1, 4, [1, 8, 8]);
    let net = Supernet::<Ad>::new(&space, &LayerConfig::new(), 0, &device).unwrap();
    let drop = DropPathConfig {
        r_max: 0.9,
        all_dropped: AllDropped::KeepOne,
        ..DropPathConfig::default()
    };
    let mut rng = StdRng::seed_from_u64(3);
    let plan = drop.sample_plan(&space, 0.9, 2, &mut rng);
    let x = input::<Ad>(8, space.input_shape, 4);
    let (logits, trace) = net.forward_traced(x, &plan);
    // The trace (recorded at the call site) lists exactly the ops the plan computes.
    for (gi, g) in plan.ghosts.iter().enumerate() {
        for (ci, cm) in g.cells.iter().enumerate() {
            for (bi, bm) in cm.blocks.iter().enumerate() {
                for oi in 0..space.ops.len() {
                    let called = trace
                        .computed
                        .iter()
                        .filter(|s| (s.ghost, s.cell, s.block, s.op) == (gi, ci, bi, oi))
                        .count();
                    assert_eq!(called, usize::from(bm.computes(oi)));
                }
            }
        }
    }
    let grads = logits.sum().backward();
    let slots = op_params(&net, &plan);
    let (mut off_with_params, mut on_with_params) = (0, 0);
    for (computed, params) in &slots {
        for (id, _) in params {
            let g = grad_of(&net, &grads, *id);
            if *computed {
                on_with_params += 1;
                assert!(
                    g.is_some(),
                    "an active op's parameter has no gradient (rank {})",
                    params.iter().find(|p| p.0 == *id).unwrap().1
                );
            } else {
                off_with_params += 1;
                // Not zero: absent. The op was never part of the graph.
                assert_eq!(g, None, "an inactive op's parameter has a gradient");
            }
        }
    }
    assert!(off_with_params > 0 && on_with_params > 0);
}

#[test]
fn drop_frequency_matches_r_to_the_one_over_k() {
    let mut rng = StdRng::seed_from_u64(11);
    let cfg = DropPathConfig {
        r_max: 0.5,
        all_dropped: AllDropped::AllowZero,
        ..DropPathConfig::default()
    };
    let n = 40_000usize;
    for (k, r) in [(2usize, 0.3f64), (5, 0.5), (7, 0.2)] {
        let (mut dropped, mut all_dropped) = (0usize, 0usize);
        for _ in 0..n {
            let keep = cfg.sample_node(k, r, &mut rng);
            let d = keep.iter().filter(|x| !**x).count();
            dropped += d;
            all_dropped += usize::from(d == k);
        }
        let p = r.powf(1.0 / k as f64);
        let trials = (n * k) as f64;
        let freq = dropped as f64 / trials;
        let tol = 4.0 * (p * (1.0 - p) / trials).sqrt();
        assert!((freq - p).abs() < tol, "k={k} r={r}: drop {freq} vs {p}");
        let freq_all = all_dropped as f64 / n as f64;
        let tol = 4.0 * (r * (1.0 - r) / n as f64).sqrt();
        assert!(
            (freq_all - r).abs() < tol,
            "k={k}: all dropped {freq_all} vs {r}"
        );
    }
    // Keep-one never leaves a node empty.
    let keep_one = DropPathConfig {
        all_dropped: AllDropped::KeepOne,
        ..cfg
    };
    for _ in 0..2000 {
        assert!(keep_one.sample_node(3, 0.99, &mut rng).iter().any(|x| *x));
    }
}

#[test]
fn schedule_is_linear_from_zero_to_r_max() {
    let cfg = DropPathConfig {
        r_max: 0.4,
        ..DropPathConfig::default()
    };
    assert_eq!(cfg.rate(0, 101), 0.0);
    assert!((cfg.rate(100, 101) - 0.4).abs() < 1e-12);
    assert!((cfg.rate(50, 101) - 0.2).abs() < 1e-12);
    assert!((cfg.rate(25, 101) - 0.1).abs() < 1e-12);
    // The constant schedule (an ablation) holds r_max from the first step.
    let constant = DropPathConfig {
        schedule: DropSchedule::Constant,
        ..cfg.clone()
    };
    for step in [0, 1, 50, 100] {
        assert_eq!(constant.rate(step, 101), 0.4);
    }
}

#[test]
fn the_linear_schedule_is_not_written_so_older_supernet_keys_stay_valid() {
    let linear = serde_json::to_value(DropPathConfig::default()).unwrap();
    assert_eq!(
        linear,
        serde_json::json!({"r_max": 0.25, "all_dropped": "keep-one"})
    );
    let constant = DropPathConfig {
        schedule: DropSchedule::Constant,
        ..DropPathConfig::default()
    };
    let text = serde_json::to_string(&constant).unwrap();
    assert!(text.contains(r#""schedule":"constant""#), "{text}");
    let back: DropPathConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, constant);
}

#[test]
fn ghost_batches_get_different_masks_and_their_own_statistics() {
    let device = Default::default();
    let space = small(2, 1, 4, [1, 8, 8]);
    let cfg = DropPathConfig::default();
    let mut rng = StdRng::seed_from_u64(12);
    let plan = cfg.sample_plan(&space, 0.5, 4, &mut rng);
    assert_eq!(plan.ghosts.len(), 4);
    for i in 0..4 {
        for j in i + 1..4 {
            assert_ne!(
                plan.ghosts[i], plan.ghosts[j],
                "ghosts {i} and {j} share a mask"
            );
        }
    }
    // Cells of one ghost batch get independent masks too.
    assert_ne!(plan.ghosts[0].cells[0], plan.ghosts[0].cells[1]);
    // With the same architecture in every ghost batch, each ghost batch is normalised
    // on its own: the logits of ghost batch 0 do not depend on the examples of ghost 1.
    let net = Supernet::<Cpu>::new(&space, &LayerConfig::new(), 0, &device).unwrap();
    let arch = space.sample(&mut rng);
    let mask = NetworkMask::from_architecture(&space, &arch);
    let two = Plan {
        ghosts: vec![mask.clone(), mask],
    };
    let a = input::<Cpu>(4, space.input_shape, 5);
    let b = input::<Cpu>(4, space.input_shape, 6);
    let c = input::<Cpu>(4, space.input_shape, 7).mul_scalar(3.0);
    let ab = net.forward(Tensor::cat(vec![a.clone(), b.clone()], 0), &two);
    let ac = net.forward(Tensor::cat(vec![a.clone(), c], 0), &two);
    let alone = net.forward_architecture(a.clone(), &arch);
    assert!(max_abs_diff(ab.clone().narrow(0, 0, 4), ac.narrow(0, 0, 4)) < 1e-5);
    assert!(max_abs_diff(ab.clone().narrow(0, 0, 4), alone) < 1e-5);
    // ...whereas one batch of 8 shares statistics across all 8 examples.
    let joint = net.forward_architecture(Tensor::cat(vec![a, b], 0), &arch);
    assert!(max_abs_diff(ab.narrow(0, 0, 4), joint.narrow(0, 0, 4)) > 1e-4);
}

#[test]
fn l2_gradient_is_nonzero_exactly_on_active_paths() {
    let device = Default::default();
    let space = small(2, 1, 4, [1, 8, 8]);
    let net = Supernet::<Ad>::new(&space, &LayerConfig::new(), 0, &device).unwrap();
    let cfg = DropPathConfig::default();
    let mut rng = StdRng::seed_from_u64(13);
    let plan = cfg.sample_plan(&space, 0.8, 2, &mut rng);
    let penalty = net.l2_penalty(&plan, 1e-3);
    let grads = penalty.backward();
    let (mut active, mut inactive) = (0, 0);
    for (computed, params) in op_params(&net, &plan) {
        for (id, rank) in params {
            let g = grad_of(&net, &grads, id);
            if computed && rank >= 2 {
                active += 1;
                assert_eq!(g, Some(true), "active weight without L2 gradient");
            } else {
                inactive += 1;
                assert_ne!(
                    g,
                    Some(true),
                    "inactive or rank-1 parameter has an L2 gradient"
                );
            }
        }
    }
    assert!(active > 0 && inactive > 0);
    // The always-on parts are decayed too.
    let classifier = net.net.classifier.weight.id;
    assert_eq!(grad_of(&net, &grads, classifier), Some(true));
    // The value is l2/2 * sum of squares over exactly those weights.
    let all_on = Plan {
        ghosts: vec![NetworkMask::all_on(&space)],
    };
    let full: f32 = net.l2_penalty(&all_on, 1e-3).into_scalar();
    let part: f32 = net.l2_penalty(&plan, 1e-3).into_scalar();
    assert!(part < full && part > 0.0);
}

/// Training applies the L2 penalty as its gradient (`Network::apply_l2_gradient`) instead of
/// adding `l2_penalty` to the loss: every parameter's gradient must be the same as
/// through the autodiff graph, to rounding, and so must the penalty's value.
#[test]
fn the_l2_penalty_applied_as_its_gradient_equals_the_penalty_through_autodiff() {
    let device = Default::default();
    let space = small(2, 1, 4, [1, 8, 8]);
    let net = Supernet::<Ad>::new(&space, &LayerConfig::new(), 0, &device).unwrap();
    let mut rng = StdRng::seed_from_u64(21);
    let plan = DropPathConfig::default().sample_plan(&space, 0.6, 2, &mut rng);
    // Large enough that the penalty's part of a gradient is far above rounding.
    let weight = 0.5;
    let x = input::<Ad>(6, space.input_shape, 3);
    let labels = Tensor::<Ad, 1, burn::tensor::Int>::from_ints([1, 0, 3, 2, 1, 0], &device);
    let ce = burn::nn::loss::CrossEntropyLossConfig::new().init(&device);
    // A fresh graph for each backward pass (the forward is deterministic).
    let loss = || ce.forward(net.forward(x.clone(), &plan), labels.clone());

    let through_graph = loss().add(net.l2_penalty(&plan, weight)).backward();
    let through_graph = GradientsParams::from_grads(through_graph, &net);
    let without = GradientsParams::from_grads(loss().backward(), &net);
    let mut applied = GradientsParams::from_grads(loss().backward(), &net);
    let value = net.net.apply_l2_gradient(&plan, weight, &mut applied);
    // Weights without a gradient get one from the penalty, but not from a penalty of 0
    // (through the graph they would get none, and the optimizer would leave them alone).
    let mut empty = GradientsParams::new();
    let zero: f32 = net
        .net
        .apply_l2_gradient(&plan, 0.0, &mut empty)
        .into_scalar();
    assert_eq!((zero, empty.len()), (0.0, 0));
    net.net.apply_l2_gradient(&plan, weight, &mut empty);
    assert!(empty.len() > 20, "{} weights decayed", empty.len());

    let expected: f32 = net.l2_penalty(&plan, weight).into_scalar();
    let got: f32 = value.into_scalar();
    assert!(
        (got - expected).abs() <= 1e-5 * expected.abs(),
        "penalty {got} against {expected}"
    );
    struct Compare<'a> {
        a: &'a GradientsParams,
        b: &'a GradientsParams,
        without: &'a GradientsParams,
        params: usize,
        decayed: usize,
    }
    impl ModuleVisitor<Ad> for Compare<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Ad, D>>) {
            let (a, b) = (
                self.a.get::<Cpu, D>(param.id),
                self.b.get::<Cpu, D>(param.id),
            );
            assert_eq!(a.is_some(), b.is_some(), "gradient present in one only");
            let (Some(a), Some(b)) = (a, b) else { return };
            self.params += 1;
            let diff: f32 = (a.clone() - b.clone()).abs().max().into_scalar();
            let scale: f32 = a.clone().abs().max().into_scalar();
            assert!(
                diff <= 1e-5 * scale.max(1e-3),
                "rank-{D} gradient differs by {diff} (largest entry {scale})"
            );
            if let Some(w) = self.without.get::<Cpu, D>(param.id) {
                let moved: f32 = (a - w).abs().max().into_scalar();
                if moved > 1e-3 * scale {
                    self.decayed += 1;
                }
            }
        }
    }
    let mut c = Compare {
        a: &through_graph,
        b: &applied,
        without: &without,
        params: 0,
        decayed: 0,
    };
    net.visit(&mut c);
    // The comparison covered parameters, and the penalty moved many of their gradients
    // (a no-op in place of the penalty would fail above).
    assert!(
        c.params > 20 && c.decayed > 10,
        "{} {}",
        c.params,
        c.decayed
    );
}

#[test]
fn every_op_kind_runs_alone() {
    let device = Default::default();
    let space = small(2, 1, 4, [1, 8, 8]);
    let net = Supernet::<Cpu>::new(&space, &LayerConfig::new(), 0, &device).unwrap();
    let x = input::<Cpu>(2, space.input_shape, 8);
    for op in OpKind::ALL {
        let text = format!("N=0:{op}/1:{op}/2:{op}/3:{op};R=0:{op}/1:{op}/2:{op}/3:{op}");
        let arch: Architecture = space.parse(&text).unwrap();
        let y = net.forward_architecture(x.clone(), &arch);
        let finite: bool = y.is_nan().any().into_scalar();
        assert!(!finite, "{op} produced NaN");
    }
}

#[test]
fn allow_zero_leaves_empty_blocks_that_compute_nothing() {
    let device = Default::default();
    let space = small(2, 1, 4, [1, 8, 8]);
    let net = Supernet::<Cpu>::new(&space, &LayerConfig::new(), 0, &device).unwrap();
    let cfg = DropPathConfig {
        r_max: 1.0,
        all_dropped: AllDropped::AllowZero,
        ..DropPathConfig::default()
    };
    let mut rng = StdRng::seed_from_u64(14);
    // At rate 1 every path is dropped: nothing but the always-on parts runs.
    let plan = cfg.sample_plan(&space, 1.0, 2, &mut rng);
    assert!(
        plan.ghosts
            .iter()
            .flat_map(|g| &g.cells)
            .flat_map(|c| &c.blocks)
            .all(|b| !b.inputs.iter().any(|x| *x) && !b.ops.iter().any(|x| *x))
    );
    let (y, trace) = net.forward_traced(input::<Cpu>(4, space.input_shape, 9), &plan);
    assert_eq!(y.dims(), [4, 5]);
    assert!(trace.computed.is_empty());
    // At a high rate some blocks lose all inputs: their ops are not computed even if on.
    let plan = cfg.sample_plan(&space, 0.7, 4, &mut rng);
    let (_, trace) = net.forward_traced(input::<Cpu>(8, space.input_shape, 9), &plan);
    let mut some_cut = false;
    for s in &trace.computed {
        let b = &plan.ghosts[s.ghost].cells[s.cell].blocks[s.block];
        assert!(b.ops[s.op] && b.inputs.iter().any(|x| *x));
    }
    for g in &plan.ghosts {
        for c in &g.cells {
            for b in &c.blocks {
                some_cut |= b.ops.iter().any(|x| *x) && !b.inputs.iter().any(|x| *x);
            }
        }
    }
    assert!(some_cut, "no block lost all its inputs at rate 0.7");
}
