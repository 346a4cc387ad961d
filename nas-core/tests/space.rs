//! Search-space tests: validity, text/JSON forms, errors, counting, variation operators.

use std::collections::HashSet;

use nas_core::space::{
    Architecture, Block, BlockProblem, CellKind, Genotype, OpKind, SearchSpace, SpaceError,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn tiny() -> SearchSpace {
    SearchSpace {
        stacks: 2,
        cells_per_stack: 1,
        blocks_per_cell: 2,
        max_inputs: 2,
        max_ops: 2,
        ops: vec![OpKind::Identity, OpKind::SepConv3, OpKind::MaxPool3],
        filters: 4,
        classes: 3,
        input_shape: [1, 8, 8],
    }
}

const TEXT: &str = "N=0,1:id,sep3/2:max3/1,3:sep5/4:avg3;R=0:sep7/1,2:id,c17/3:max3/0,4:sep3";

#[test]
fn samples_are_valid_and_varied() {
    let space = SearchSpace::default();
    let mut rng = StdRng::seed_from_u64(1);
    let mut seen = HashSet::new();
    for _ in 0..500 {
        let a = space.sample(&mut rng);
        space.check(&a).unwrap();
        seen.insert(a.to_string());
    }
    assert!(
        seen.len() > 490,
        "only {} distinct samples of 500",
        seen.len()
    );
}

#[test]
fn text_form_round_trips() {
    let space = SearchSpace::default();
    let a = space.parse(TEXT).unwrap();
    assert_eq!(a.to_string(), TEXT);
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..200 {
        let a = space.sample(&mut rng);
        let back = space.parse(&a.to_string()).unwrap();
        assert_eq!(a, back);
    }
}

#[test]
fn text_form_is_canonical() {
    let space = SearchSpace::default();
    let a = space
        .parse("N=1,0:sep3,id/2:max3/3,1:sep5/4:avg3;R=0:sep7/2,1:c17,id/3:max3/4,0:sep3")
        .unwrap();
    assert_eq!(a.to_string(), TEXT);
}

#[test]
fn json_round_trips() {
    let space = SearchSpace::default();
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..100 {
        let a = space.sample(&mut rng);
        let json = a.to_json();
        assert_eq!(Architecture::from_json(&space, &json).unwrap(), a);
    }
    let json = space.parse(TEXT).unwrap().to_json();
    assert!(json.contains("\"sep3\""), "{json}");
}

fn block_error(space: &SearchSpace, text: &str) -> (CellKind, usize, BlockProblem) {
    match space.parse(text) {
        Err(SpaceError::Block {
            cell,
            block,
            problem,
        }) => (cell, block, problem),
        other => panic!("expected a block error for {text}, got {other:?}"),
    }
}

#[test]
fn bad_blocks_are_rejected_with_the_block_named() {
    let space = SearchSpace::default();
    let r = "R=0:sep7/1,2:c17,id/3:max3/0,4:sep3";
    assert_eq!(
        block_error(&space, &format!("N=0:id/1,1:id/0:id/0:id;{r}")),
        (CellKind::Normal, 1, BlockProblem::DuplicateInput(1))
    );
    assert_eq!(
        block_error(&space, &format!("N=0:id/3:id/0:id/0:id;{r}")),
        (
            CellKind::Normal,
            1,
            BlockProblem::InputOutOfRange { input: 3, max: 2 }
        )
    );
    assert_eq!(
        block_error(&space, &format!("N=0:id/0:id/0:/0:id;{r}")),
        (CellKind::Normal, 2, BlockProblem::NoOps { max: 2 })
    );
    assert_eq!(
        block_error(&space, &format!("N=0:id/0:id/0:id/0:id,sep3,sep5;{r}")),
        (
            CellKind::Normal,
            3,
            BlockProblem::TooManyOps { found: 3, max: 2 }
        )
    );
    assert_eq!(
        block_error(&space, "N=0:id/0:id/0:id/0:id;R=0:id/0:id/0,1,2:id/0:id"),
        (
            CellKind::Reduction,
            2,
            BlockProblem::TooManyInputs { found: 3, max: 2 }
        )
    );
    assert_eq!(
        block_error(&space, "N=0:id/0:id/0:id/0:id;R=0:id/0:id/0:id/:id"),
        (CellKind::Reduction, 3, BlockProblem::NoInputs { max: 2 })
    );
    assert_eq!(
        block_error(&space, "N=0:id/0:id,id/0:id/0:id;R=0:id/0:id/0:id/0:id"),
        (
            CellKind::Normal,
            1,
            BlockProblem::DuplicateOp(OpKind::Identity)
        )
    );
    // An operation the menu of a restricted space does not offer.
    let small = tiny();
    assert_eq!(
        block_error(&small, "N=0:id/2:sep5;R=0:id/1:id"),
        (
            CellKind::Normal,
            1,
            BlockProblem::OpNotInMenu(OpKind::SepConv5)
        )
    );
}

#[test]
fn unknown_op_and_malformed_text_are_rejected() {
    let space = SearchSpace::default();
    let err = space
        .parse("N=0:id/0:conv9/0:id/0:id;R=0:id/0:id/0:id/0:id")
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("normal block 1") && msg.contains("conv9"),
        "{msg}"
    );
    for bad in [
        "",
        "N=0:id",
        "X=0:id;R=0:id",
        "N=0:id/0:id/0:id/0:id;R=0:id/0:id/0:id",
        "N=a:id/0:id/0:id/0:id;R=0:id/0:id/0:id/0:id",
    ] {
        assert!(space.parse(bad).is_err(), "accepted {bad:?}");
    }
    let msg = space
        .parse("N=0:id/0:id/0:id/0:id;R=0:id/0:id/0:id")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("reduction genotype has 3 blocks"), "{msg}");
}

#[test]
fn json_with_unknown_fields_or_ops_is_rejected() {
    let space = SearchSpace::default();
    let good = space.parse(TEXT).unwrap().to_json();
    let bad = good.replacen("\"sep3\"", "\"conv9\"", 1);
    assert!(Architecture::from_json(&space, &bad).is_err());
    let bad = good.replacen("{\"normal\"", "{\"extra\":1,\"normal\"", 1);
    assert!(Architecture::from_json(&space, &bad).is_err());
    let dup = good.replacen("\"inputs\":[0,1]", "\"inputs\":[1,1]", 1);
    let err = Architecture::from_json(&space, &dup).unwrap_err();
    assert!(matches!(
        err,
        SpaceError::Block {
            problem: BlockProblem::DuplicateInput(1),
            ..
        }
    ));
}

/// Every genotype of `space`, enumerated the slow way: all lists of distinct inputs and
/// ops of allowed length, keeping those whose canonical form is new.
fn brute_force_genotypes(space: &SearchSpace) -> HashSet<Genotype> {
    fn lists<T: Copy + PartialEq>(items: &[T], max: usize) -> Vec<Vec<T>> {
        let mut out: Vec<Vec<T>> = vec![vec![]];
        let mut all = Vec::new();
        for _ in 0..max {
            let mut next = Vec::new();
            for l in &out {
                for &x in items {
                    if !l.contains(&x) {
                        let mut m = l.clone();
                        m.push(x);
                        next.push(m);
                    }
                }
            }
            all.extend(next.iter().cloned());
            out = next;
        }
        all
    }
    let mut genotypes: Vec<Vec<Block>> = vec![vec![]];
    for b in 0..space.blocks_per_cell {
        let inputs: Vec<usize> = (0..b + 2).collect();
        let mut next = Vec::new();
        for g in &genotypes {
            for i in lists(&inputs, space.max_inputs) {
                for o in lists(&space.ops, space.max_ops) {
                    let mut g = g.clone();
                    g.push(Block::new(i.clone(), o));
                    next.push(g);
                }
            }
        }
        genotypes = next;
    }
    genotypes
        .into_iter()
        .map(|blocks| Genotype { blocks })
        .collect()
}

#[test]
fn size_formula_matches_brute_force() {
    for (max_inputs, max_ops) in [(1, 1), (2, 2), (2, 1), (1, 3)] {
        let space = SearchSpace {
            max_inputs,
            max_ops,
            ..tiny()
        };
        let g = brute_force_genotypes(&space).len() as u128;
        assert_eq!(space.genotype_count().unwrap(), g);
        assert_eq!(space.size().unwrap(), g * g);
    }
    // The default space: (3 * 6 * 10 * 15) * 28^4 genotypes, squared.
    let g: u128 = 2700 * 28u128.pow(4);
    assert_eq!(SearchSpace::default().size().unwrap(), g * g);
}

#[test]
fn sampling_is_uniform_on_a_tiny_space() {
    let space = SearchSpace {
        blocks_per_cell: 1,
        ..tiny()
    };
    // 3 input subsets x 6 op subsets = 18 genotypes, 324 architectures.
    assert_eq!(space.size().unwrap(), 324);
    let mut rng = StdRng::seed_from_u64(4);
    let mut counts = std::collections::HashMap::new();
    let n = 64_800;
    for _ in 0..n {
        *counts
            .entry(space.sample(&mut rng).normal)
            .or_insert(0usize) += 1;
    }
    assert_eq!(counts.len(), 18);
    let expected = n as f64 / 18.0;
    let sd = (expected * (1.0 - 1.0 / 18.0)).sqrt();
    for (g, c) in counts {
        assert!(
            (c as f64 - expected).abs() < 5.0 * sd,
            "{g}: {c} vs {expected}"
        );
    }
}

#[test]
fn decisions_round_trip_and_have_stable_labels() {
    let space = SearchSpace::default();
    let d = space.decisions();
    assert_eq!(d.len(), 16);
    assert_eq!(d[0].label, "normal/b0/inputs");
    assert_eq!(d[0].choices, 3);
    assert_eq!(d[1].label, "normal/b0/ops");
    assert_eq!(d[1].choices, 28);
    assert_eq!(d[15].label, "reduction/b3/ops");
    assert_eq!(d[14].choices, 15);
    let product: u128 = d.iter().map(|x| x.choices as u128).product();
    assert_eq!(product, space.size().unwrap());
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..100 {
        let a = space.sample(&mut rng);
        let c = space.to_decisions(&a).unwrap();
        assert_eq!(space.from_decisions(&c).unwrap(), a);
    }
    let mut c = vec![0; 16];
    c[3] = 28;
    let err = space.from_decisions(&c).unwrap_err().to_string();
    assert!(err.contains("normal/b1/ops"), "{err}");
    assert!(space.from_decisions(&[0; 3]).is_err());
}

/// With the menu in another order than `OpKind::ALL`, every decision vector still maps
/// to the canonical architecture: its text form parses back to it, and it maps back to
/// the same decisions.
#[test]
fn decisions_give_canonical_architectures_with_a_reordered_menu() {
    let space = SearchSpace {
        ops: vec![
            OpKind::AvgPool3,
            OpKind::SepConv7,
            OpKind::Identity,
            OpKind::SepConv3,
        ],
        ..SearchSpace::default()
    };
    let d = space.decisions();
    let mut rng = StdRng::seed_from_u64(8);
    for _ in 0..200 {
        let c: Vec<usize> = d
            .iter()
            .map(|x| rand::Rng::random_range(&mut rng, 0..x.choices))
            .collect();
        let a = space.from_decisions(&c).unwrap();
        assert_eq!(space.parse(&a.to_string()).unwrap(), a, "{a}");
        assert_eq!(space.to_decisions(&a).unwrap(), c);
        let json = Architecture::from_json(&space, &a.to_json()).unwrap();
        assert_eq!(json, a);
    }
    // JSON with unsorted lists reads as the canonical block.
    let json = r#"{"normal":{"blocks":[{"inputs":[1,0],"ops":["sep3","avg3"]}]},"reduction":{"blocks":[{"inputs":[0],"ops":["id"]}]}}"#;
    let a: Architecture = serde_json::from_str(json).unwrap();
    assert_eq!(
        a.normal.blocks[0],
        Block::new(vec![0, 1], vec![OpKind::SepConv3, OpKind::AvgPool3])
    );
    assert_eq!(a.normal.blocks[0].inputs(), &[0, 1]);
    assert_eq!(
        a.normal.blocks[0].ops(),
        &[OpKind::SepConv3, OpKind::AvgPool3]
    );
}

#[test]
fn neighbours_differ_in_one_place_and_are_valid() {
    let space = SearchSpace::default();
    let a = space.parse(TEXT).unwrap();
    let ns = space.neighbours(&a);
    assert!(!ns.is_empty());
    let distinct: HashSet<_> = ns.iter().map(|n| n.to_string()).collect();
    assert_eq!(distinct.len(), ns.len(), "duplicate neighbours");
    let da = space.to_decisions(&a).unwrap();
    for n in &ns {
        space.check(n).unwrap();
        assert_ne!(n, &a);
        let dn = space.to_decisions(n).unwrap();
        let changed = da.iter().zip(&dn).filter(|(x, y)| x != y).count();
        assert_eq!(changed, 1, "{n} differs from {a} in {changed} decisions");
    }
    // Mutation reaches both sizes of a block (one op <-> two ops).
    let mut rng = StdRng::seed_from_u64(6);
    let mut sizes = HashSet::new();
    let mut cur = a.clone();
    for _ in 0..200 {
        cur = space.mutate(&cur, &mut rng);
        space.check(&cur).unwrap();
        sizes.insert(cur.normal.blocks[0].ops().len());
    }
    assert_eq!(sizes, HashSet::from([1, 2]));
}

#[test]
fn same_seed_same_samples() {
    let space = SearchSpace::default();
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..20)
            .map(|_| space.sample(&mut rng).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
}

#[test]
fn invalid_spaces_are_rejected() {
    let ok = SearchSpace::default();
    ok.validate().unwrap();
    for bad in [
        SearchSpace {
            stacks: 1,
            ..ok.clone()
        },
        SearchSpace {
            blocks_per_cell: 0,
            ..ok.clone()
        },
        SearchSpace {
            max_ops: 0,
            ..ok.clone()
        },
        SearchSpace {
            ops: vec![],
            ..ok.clone()
        },
        SearchSpace {
            ops: vec![OpKind::Identity, OpKind::Identity],
            ..ok.clone()
        },
        SearchSpace {
            filters: 3,
            ..ok.clone()
        },
        SearchSpace {
            classes: 1,
            ..ok.clone()
        },
        SearchSpace {
            input_shape: [1, 2, 28],
            ..ok.clone()
        },
        SearchSpace {
            cells_per_stack: 0,
            ..ok.clone()
        },
    ] {
        assert!(bad.validate().is_err(), "accepted {bad:?}");
    }
}

#[test]
fn cell_sites_carry_the_network_geometry() {
    // 3 stacks of 2 normal cells on 7x5 images: sizes 7x5, 4x3, 2x2 (halving rounds up).
    let space = SearchSpace {
        stacks: 3,
        cells_per_stack: 2,
        input_shape: [3, 7, 5],
        filters: 4,
        ..tiny()
    };
    let sites = space.cell_sites();
    let kinds: Vec<CellKind> = sites.iter().map(|s| s.kind).collect();
    use CellKind::{Normal as N, Reduction as R};
    assert_eq!(kinds, [N, N, R, N, N, R, N, N]);
    let summary: Vec<(usize, usize, [usize; 2])> = sites
        .iter()
        .map(|s| (s.stack, s.channels, s.output.size))
        .collect();
    assert_eq!(
        summary,
        [
            (0, 4, [7, 5]),
            (0, 4, [7, 5]),
            (1, 8, [4, 3]),
            (1, 8, [4, 3]),
            (1, 8, [4, 3]),
            (2, 16, [2, 2]),
            (2, 16, [2, 2]),
            (2, 16, [2, 2]),
        ]
    );
    // The first cell reads the stem twice; each later cell reads the two outputs before it.
    assert_eq!(sites[0].inputs, [space.stem_output(); 2]);
    for i in 1..sites.len() {
        let before = if i >= 2 {
            sites[i - 2].output
        } else {
            space.stem_output()
        };
        assert_eq!(sites[i].inputs, [before, sites[i - 1].output], "cell {i}");
    }
    // Reductions: both inputs of a reduction cell, and the older input of the cell after it.
    let reduced: Vec<[bool; 2]> = sites
        .iter()
        .map(|s| [s.reduces_input(0), s.reduces_input(1)])
        .collect();
    let (f, t) = (false, true);
    assert_eq!(
        reduced,
        [
            [f, f],
            [f, f],
            [t, t],
            [t, f],
            [f, f],
            [t, t],
            [t, f],
            [f, f]
        ]
    );
}
