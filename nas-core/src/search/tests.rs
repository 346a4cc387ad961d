//! The search loop against a synthetic objective: runs in milliseconds.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::*;
use crate::search::{MemoryStore, StoreError, Stored, best_of};
use crate::space::{Architecture, SearchSpace};
use crate::strategy::{Running, SearchStrategy, StrategyRng};

/// Mutates the best architecture seen so far (enough state to notice a bad resume).
struct Climb {
    space: SearchSpace,
}

#[derive(Serialize, Deserialize)]
struct ClimbState {
    rng: StrategyRng,
    best: Option<(Architecture, f64)>,
}

impl SearchStrategy for Climb {
    const NAME: &'static str = "climb";
    const DESCRIPTION: &'static str = "test";
    type Config = ();
    type State = ClimbState;

    fn new(space: &SearchSpace, _: ()) -> Result<Self, String> {
        Ok(Climb {
            space: space.clone(),
        })
    }
    fn init(&self, rng: StrategyRng) -> ClimbState {
        ClimbState { rng, best: None }
    }
    fn ask(&self, s: &mut ClimbState) -> Architecture {
        match &s.best {
            Some((a, _)) => self.space.mutate(a, &mut s.rng),
            None => self.space.sample(&mut s.rng),
        }
    }
    fn tell(&self, s: &mut ClimbState, arch: &Architecture, m: &Metrics) {
        if s.best.as_ref().is_none_or(|(_, b)| m.accuracy > *b) {
            s.best = Some((arch.clone(), m.accuracy));
        }
    }
}

fn space() -> SearchSpace {
    SearchSpace::default()
}

/// A deterministic objective over the decisions, counting its calls.
struct Objective {
    space: SearchSpace,
    calls: usize,
}

impl Evaluator for Objective {
    fn evaluate(&mut self, arch: &Architecture) -> Result<Metrics, EvalError> {
        self.calls += 1;
        let d = self.space.to_decisions(arch)?;
        let v: usize = d.iter().enumerate().map(|(i, c)| (i % 5 + 1) * c).sum();
        Ok(Metrics {
            accuracy: (v % 97) as f64 / 97.0,
            loss: 1.0,
            examples: 10,
        })
    }
}

fn objective() -> Objective {
    Objective {
        space: space(),
        calls: 0,
    }
}

fn strategy(seed: u64) -> Running<Climb> {
    Running::<Climb>::new(&space(), None, seed).unwrap()
}

fn run(
    store: &mut dyn SearchStore,
    budget: usize,
    obj: &mut Objective,
) -> Result<Vec<Evaluated>, SearchError> {
    let spec = SearchSpec { seed: 3, budget };
    run_search(&mut strategy(3), &spec, obj, store, &mut ())
}

/// Fails the `n`-th append or save (counting from 0), as a kill would stop the loop there.
struct Failing {
    inner: MemoryStore,
    fail_append: Option<usize>,
    fail_save: Option<usize>,
    appends: usize,
    saves: usize,
}

impl Failing {
    fn new(fail_append: Option<usize>, fail_save: Option<usize>) -> Self {
        Failing {
            inner: MemoryStore::default(),
            fail_append,
            fail_save,
            appends: 0,
            saves: 0,
        }
    }
}

impl SearchStore for Failing {
    fn load(&mut self) -> Result<Stored, StoreError> {
        self.inner.load()
    }
    fn append(&mut self, r: &Evaluated) -> Result<(), StoreError> {
        self.appends += 1;
        if self.fail_append == Some(self.appends - 1) {
            return Err("killed".into());
        }
        self.inner.append(r)
    }
    fn save(&mut self, c: &SearchCheckpoint) -> Result<(), StoreError> {
        self.saves += 1;
        if self.fail_save == Some(self.saves - 1) {
            return Err("killed".into());
        }
        self.inner.save(c)
    }
}

#[test]
fn a_search_logs_every_evaluation_and_its_checkpoint() {
    let mut store = MemoryStore::default();
    let mut obj = objective();
    let recs = run(&mut store, 20, &mut obj).unwrap();
    assert_eq!(recs.len(), 20);
    assert_eq!(obj.calls, 20);
    assert!(recs.iter().enumerate().all(|(i, r)| r.index == i));
    assert_eq!(store.stored.records, recs);
    assert_eq!(store.stored.checkpoint.as_ref().unwrap().told, 20);
    assert!(store.finished);
    // The climber improves on its first guess on this objective.
    assert!(best_of(&recs).unwrap().accuracy > recs[0].accuracy);
    // A finished search returns its log without evaluating anything.
    let again = run(&mut store, 20, &mut obj).unwrap();
    assert_eq!((again, obj.calls), (recs, 20));
}

#[test]
fn interrupted_anywhere_it_resumes_to_the_same_search_without_re_evaluating() {
    let mut reference = MemoryStore::default();
    let want = run(&mut reference, 15, &mut objective()).unwrap();
    for k in 0..15 {
        // Killed before the k-th evaluation was logged, or after it was logged but
        // before the strategy's checkpoint was saved.
        for (fail_append, fail_save) in [(Some(k), None), (None, Some(k))] {
            let mut store = Failing::new(fail_append, fail_save);
            let mut obj = objective();
            let e = run(&mut store, 15, &mut obj).unwrap_err();
            assert!(matches!(e, SearchError::Store(_)), "{e}");
            let logged = store.inner.stored.records.len();
            store.fail_append = None;
            store.fail_save = None;
            let got = run(&mut store, 15, &mut obj).unwrap();
            assert_eq!(got, want, "killed at {k} ({fail_append:?}, {fail_save:?})");
            assert_eq!(
                obj.calls,
                15 + usize::from(fail_append.is_some()),
                "re-evaluated"
            );
            assert!(logged <= 15);
        }
    }
}

#[test]
fn a_larger_budget_continues_a_finished_search() {
    let mut whole = MemoryStore::default();
    let want = run(&mut whole, 12, &mut objective()).unwrap();
    let mut store = MemoryStore::default();
    let mut obj = objective();
    let first = run(&mut store, 5, &mut obj).unwrap();
    assert_eq!(first, want[..5]);
    assert_eq!(run(&mut store, 12, &mut obj).unwrap(), want);
    assert_eq!(obj.calls, 12);
    // A smaller budget returns the first evaluations.
    assert_eq!(run(&mut store, 4, &mut obj).unwrap(), want[..4]);
}

#[test]
fn another_search_or_a_damaged_log_is_refused() {
    let mut store = MemoryStore::default();
    run(&mut store, 6, &mut objective()).unwrap();
    // Another seed.
    let spec = SearchSpec { seed: 4, budget: 6 };
    let e = run_search(
        &mut strategy(4),
        &spec,
        &mut objective(),
        &mut store.clone(),
        &mut (),
    )
    .unwrap_err();
    assert!(e.to_string().contains("seed 3"), "{e}");
    // A log shorter than the checkpoint.
    let mut short = store.clone();
    short.stored.records.truncate(3);
    let e = run(&mut short, 6, &mut objective()).unwrap_err();
    assert!(matches!(e, SearchError::Damaged(_)), "{e}");
    // A log that disagrees with what the strategy asks.
    let mut edited = store.clone();
    edited.stored.checkpoint = None;
    edited.stored.records[2].arch = "N=0:id;R=0:id".into();
    let e = run(&mut edited, 6, &mut objective()).unwrap_err();
    assert!(e.to_string().contains("evaluation 2"), "{e}");
    // A state saved by another strategy.
    let mut other = store.clone();
    other.stored.checkpoint.as_mut().unwrap().state["strategy"] = "random".into();
    let e = run(&mut other, 8, &mut objective()).unwrap_err();
    assert!(e.to_string().contains("saved by strategy 'random'"), "{e}");
}

#[test]
fn evaluation_errors_name_the_evaluation() {
    let mut n = 0;
    let mut flaky = |_: &Architecture| -> Result<Metrics, EvalError> {
        n += 1;
        if n == 3 {
            return Err(EvalError::Data("no images".into()));
        }
        Ok(Metrics {
            accuracy: 0.5,
            loss: 1.0,
            examples: 1,
        })
    };
    let mut store = MemoryStore::default();
    let spec = SearchSpec { seed: 3, budget: 5 };
    let e = run_search(&mut strategy(3), &spec, &mut flaky, &mut store, &mut ()).unwrap_err();
    assert!(e.to_string().starts_with("evaluation 2 (N="), "{e}");
    assert_eq!(store.stored.records.len(), 2);
    // Observers hear every told evaluation.
    struct Count(usize, usize);
    impl SearchObserver for Count {
        fn on_start(&mut self, done: usize, _: usize) {
            self.0 = done;
        }
        fn on_told(&mut self, _: &Evaluated, _: f64) {
            self.1 += 1;
        }
    }
    let mut c = Count(99, 0);
    let mut memo: HashMap<String, usize> = HashMap::new();
    let mut ok = |a: &Architecture| -> Result<Metrics, EvalError> {
        *memo.entry(a.to_string()).or_default() += 1;
        Ok(Metrics {
            accuracy: 0.1,
            loss: 1.0,
            examples: 1,
        })
    };
    run_search(&mut strategy(3), &spec, &mut ok, &mut store, &mut c).unwrap();
    assert_eq!((c.0, c.1), (2, 3));
}
