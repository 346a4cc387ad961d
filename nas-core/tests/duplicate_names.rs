//! Two strategies registered under one name make the registry an error, naming both.
//! (Its own test binary: the duplicate would spoil every other test's registry.)

use nas_core::search::Metrics;
use nas_core::space::{Architecture, SearchSpace};
use nas_core::strategy::{self, SearchStrategy, StrategyError, StrategyRng};

macro_rules! twin {
    ($ty:ident, $what:literal) => {
        struct $ty(SearchSpace);

        impl SearchStrategy for $ty {
            const NAME: &'static str = "twin";
            const DESCRIPTION: &'static str = $what;
            type Config = ();
            type State = StrategyRng;

            fn new(space: &SearchSpace, _: ()) -> Result<Self, String> {
                Ok($ty(space.clone()))
            }
            fn init(&self, rng: StrategyRng) -> StrategyRng {
                rng
            }
            fn ask(&self, rng: &mut StrategyRng) -> Architecture {
                self.0.sample(rng)
            }
            fn tell(&self, _: &mut StrategyRng, _: &Architecture, _: &Metrics) {}
        }

        nas_core::register_strategy!($ty);
    };
}

twin!(First, "the first twin");
twin!(Second, "the second twin");

#[test]
fn duplicate_names_are_an_error() {
    let err = strategy::registry()
        .err()
        .expect("a duplicate was accepted");
    assert!(matches!(err, StrategyError::Duplicate { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("'twin'")
            && text.contains("the first twin")
            && text.contains("the second twin"),
        "{text}"
    );
    let err = strategy::build("twin", &SearchSpace::default(), None, 0)
        .err()
        .expect("built a duplicate");
    assert!(err.to_string().contains("registered as 'twin'"), "{err}");
}
