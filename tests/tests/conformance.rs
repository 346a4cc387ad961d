//! The conformance suite, written once and run for every registered strategy.

use nas_core::space::{Architecture, Block, SearchSpace};
use nas_core::strategy::{self, Strategy};
use nas_integration_tests::{EXPECTED, Synthetic, metrics};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn space() -> SearchSpace {
    SearchSpace::default()
}

/// Runs `steps` ask/tell rounds against a fixed synthetic objective; returns what was asked.
fn drive(
    s: &mut dyn Strategy,
    obj: &Synthetic,
    steps: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Architecture> {
    (0..steps)
        .map(|_| {
            let a = s.ask();
            s.tell(&a, &metrics(obj.observe(&a, rng))).unwrap();
            a
        })
        .collect()
}

#[test]
fn every_expected_strategy_is_registered() {
    let names: Vec<&str> = strategy::registry()
        .unwrap()
        .iter()
        .map(|e| e.name)
        .collect();
    for want in EXPECTED {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for e in strategy::registry().unwrap() {
        assert!(!e.description.is_empty());
        assert!((e.default_config)().is_object(), "{}", e.name);
    }
}

#[test]
fn unknown_names_list_the_known_ones() {
    let err = strategy::build("nope", &space(), None, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("unknown strategy 'nope'"), "{err}");
    for name in EXPECTED {
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn bad_configs_are_errors() {
    let sp = space();
    for (name, cfg) in [
        ("random", serde_json::json!({"no_repeat": true})),
        (
            "evolution",
            serde_json::json!({"population": 10, "sample": 20}),
        ),
        ("evolution", serde_json::json!({"population": "many"})),
        ("reinforce", serde_json::json!({"lr": -1.0})),
        ("hill-climb", serde_json::json!({"x": 1})),
        ("random", serde_json::json!(3)),
    ] {
        let err = strategy::build(name, &sp, Some(cfg.clone()), 0).err();
        assert!(err.is_some(), "{name} accepted {cfg}");
        assert!(err.unwrap().to_string().contains(name));
    }
}

#[test]
fn same_seed_same_sequence_and_valid_asks() {
    let sp = space();
    let obj = Synthetic::new(&sp, 1, 8, 0.1);
    for e in strategy::registry().unwrap() {
        let run = |seed| {
            let mut s = strategy::build(e.name, &sp, None, seed).unwrap();
            drive(s.as_mut(), &obj, 150, &mut ChaCha8Rng::seed_from_u64(9))
        };
        let a = run(3);
        for arch in &a {
            sp.check(arch)
                .unwrap_or_else(|err| panic!("{}: asked an invalid {arch}: {err}", e.name));
        }
        assert_eq!(a, run(3), "{}: same seed, different sequence", e.name);
        assert_ne!(a, run(4), "{}: different seeds, same sequence", e.name);
    }
}

#[test]
fn tell_accepts_any_architecture_of_the_space_and_rejects_others() {
    let sp = space();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for e in strategy::registry().unwrap() {
        let mut s = strategy::build(e.name, &sp, None, 0).unwrap();
        for i in 0..50 {
            let a = sp.sample(&mut rng);
            s.tell(&a, &metrics(i as f64 / 50.0)).unwrap();
        }
        let _ = s.ask();
        let mut bad = sp.sample(&mut rng);
        bad.normal.blocks[0] = Block::new(vec![7], bad.normal.blocks[0].ops().to_vec());
        let err = s.tell(&bad, &metrics(0.5)).unwrap_err().to_string();
        assert!(
            err.contains(e.name) && err.contains("normal block 0"),
            "{err}"
        );
    }
}

#[test]
fn restored_state_continues_exactly() {
    let sp = space();
    let obj = Synthetic::new(&sp, 2, 8, 0.1);
    for e in strategy::registry().unwrap() {
        let mut original = strategy::build(e.name, &sp, None, 11).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        drive(original.as_mut(), &obj, 130, &mut rng);
        // Through text, as a resumed run would read it from disk.
        let text = serde_json::to_string(&original.save()).unwrap();
        let mut restored = strategy::build(e.name, &sp, None, 999).unwrap();
        restored
            .restore(serde_json::from_str(&text).unwrap())
            .unwrap();
        let mut rng_b = rng.clone();
        let a = drive(original.as_mut(), &obj, 60, &mut rng);
        let b = drive(restored.as_mut(), &obj, 60, &mut rng_b);
        assert_eq!(a, b, "{}: restored strategy diverged", e.name);
        let err = restored
            .restore(serde_json::json!({"bogus": 1}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot restore"), "{err}");
        // A state saved by another strategy is refused by name.
        let other = if e.name == "random" {
            "evolution"
        } else {
            "random"
        };
        let foreign = strategy::build(other, &sp, None, 1).unwrap().save();
        let err = restored.restore(foreign).unwrap_err().to_string();
        assert!(
            err.contains(&format!("saved by strategy '{other}'")),
            "{err}"
        );
    }
}
