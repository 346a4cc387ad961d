//! Local moves: the neighbours of an architecture and uniform mutation.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::{Architecture, Block, CellKind, SearchSpace};

impl SearchSpace {
    /// Every architecture one step away: in one block of one genotype, one input or one
    /// operation is replaced by another, added (below the limit) or removed (above one).
    pub fn neighbours(&self, arch: &Architecture) -> Vec<Architecture> {
        let mut out = Vec::new();
        for kind in [CellKind::Normal, CellKind::Reduction] {
            let g = arch.genotype(kind);
            for (b, block) in g.blocks.iter().enumerate() {
                let n_in = self.num_candidate_inputs(b);
                let all_inputs: Vec<usize> = (0..n_in).collect();
                for inputs in set_moves(block.inputs(), &all_inputs, self.max_inputs) {
                    let mut a = arch.clone();
                    a.genotype_mut(kind).blocks[b] = Block::new(inputs, block.ops().to_vec());
                    out.push(a);
                }
                for ops in set_moves(block.ops(), &self.ops, self.max_ops) {
                    let mut a = arch.clone();
                    a.genotype_mut(kind).blocks[b] = Block::new(block.inputs().to_vec(), ops);
                    out.push(a);
                }
            }
        }
        out
    }

    /// One uniformly chosen neighbour (see [`SearchSpace::neighbours`]); the architecture
    /// itself if it has none (a space with a single architecture).
    pub fn mutate<R: Rng + ?Sized>(&self, arch: &Architecture, rng: &mut R) -> Architecture {
        self.neighbours(arch)
            .choose(rng)
            .cloned()
            .unwrap_or_else(|| arch.clone())
    }
}

/// Replacement, addition and removal moves of one element of a set.
fn set_moves<T: Copy + Ord>(current: &[T], universe: &[T], max: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let absent: Vec<T> = universe
        .iter()
        .copied()
        .filter(|x| !current.contains(x))
        .collect();
    for (i, _) in current.iter().enumerate() {
        for &new in &absent {
            let mut s = current.to_vec();
            s[i] = new;
            out.push(s);
        }
        if current.len() > 1 {
            let mut s = current.to_vec();
            s.remove(i);
            out.push(s);
        }
    }
    if current.len() < max {
        for &new in &absent {
            let mut s = current.to_vec();
            s.push(new);
            out.push(s);
        }
    }
    out
}
