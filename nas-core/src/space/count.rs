//! Counting the space and sampling it uniformly.

use rand::Rng;
use rand::seq::SliceRandom;

use super::{Architecture, Block, Genotype, OpKind, SearchSpace, SpaceError};

impl SearchSpace {
    /// All input subsets a block may choose, in canonical order (by size, then lexicographic).
    pub fn input_choices(&self, block: usize) -> Vec<Vec<usize>> {
        subsets(self.num_candidate_inputs(block), self.max_inputs)
    }

    /// All operation subsets a block may choose, in canonical order (menu positions).
    pub fn op_choices(&self) -> Vec<Vec<OpKind>> {
        subsets(self.ops.len(), self.max_ops)
            .into_iter()
            .map(|s| s.into_iter().map(|i| self.ops[i]).collect())
            .collect()
    }

    /// Number of distinct genotypes (one cell type).
    pub fn genotype_count(&self) -> Result<u128, SpaceError> {
        let ops = count_subsets(self.ops.len(), self.max_ops).ok_or(SpaceError::TooLarge)?;
        let mut total: u128 = 1;
        for block in 0..self.blocks_per_cell {
            let inputs = count_subsets(self.num_candidate_inputs(block), self.max_inputs)
                .ok_or(SpaceError::TooLarge)?;
            total = total
                .checked_mul(inputs)
                .and_then(|t| t.checked_mul(ops))
                .ok_or(SpaceError::TooLarge)?;
        }
        Ok(total)
    }

    /// Exact number of architectures in the space (normal x reduction genotypes).
    pub fn size(&self) -> Result<u128, SpaceError> {
        let g = self.genotype_count()?;
        g.checked_mul(g).ok_or(SpaceError::TooLarge)
    }

    /// Samples an architecture uniformly from the space.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Architecture {
        Architecture {
            normal: self.sample_genotype(rng),
            reduction: self.sample_genotype(rng),
        }
    }

    fn sample_genotype<R: Rng + ?Sized>(&self, rng: &mut R) -> Genotype {
        let blocks = (0..self.blocks_per_cell)
            .map(|b| {
                let inputs = sample_subset(self.num_candidate_inputs(b), self.max_inputs, rng);
                let ops = sample_subset(self.ops.len(), self.max_ops, rng)
                    .into_iter()
                    .map(|i| self.ops[i])
                    .collect();
                Block::new(inputs, ops)
            })
            .collect();
        Genotype { blocks }
    }
}

fn binomial(n: usize, k: usize) -> Option<u128> {
    if k > n {
        return Some(0);
    }
    let mut r: u128 = 1;
    for i in 0..k {
        r = r.checked_mul((n - i) as u128)? / (i as u128 + 1);
    }
    Some(r)
}

/// How many subsets of `0..n` have 1..=max elements (`None` beyond `u128`).
pub(crate) fn count_subsets(n: usize, max: usize) -> Option<u128> {
    (1..=max.min(n)).try_fold(0u128, |acc, k| acc.checked_add(binomial(n, k)?))
}

/// All subsets of `0..n` with 1..=max elements, by size then lexicographic.
fn subsets(n: usize, max: usize) -> Vec<Vec<usize>> {
    fn rec(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            rec(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    for k in 1..=max.min(n) {
        rec(0, n, k, &mut Vec::new(), &mut out);
    }
    out
}

/// A uniformly chosen subset of `0..n` with 1..=max elements (every subset equally likely).
fn sample_subset<R: Rng + ?Sized>(n: usize, max: usize, rng: &mut R) -> Vec<usize> {
    let weights: Vec<f64> = (1..=max.min(n))
        .map(|k| binomial(n, k).map_or(f64::MAX, |c| c as f64))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    let mut k = weights.len();
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            k = i + 1;
            break;
        }
        u -= w;
    }
    let mut all: Vec<usize> = (0..n).collect();
    all.shuffle(rng);
    all.truncate(k);
    all
}
