//! Ahead-of-time tensor arena planning (host only; the offsets are stored in
//! the model blob, so the firmware does no planning).
//!
//! Each buffer lives from the operator that produces it to the last operator
//! that reads it; buffers whose lifetimes intersect must not overlap in
//! memory. Several strategies are tried and the smallest valid plan wins:
//!
//! * **two-sided** ("ping-pong"): buffers in order of creation go alternately
//!   to the bottom and the top of an arena sized to the lower bound (the
//!   largest sum of simultaneously live buffers). For a chain of layers, each
//!   layer's input and output then sit at opposite ends, which reaches the
//!   lower bound exactly; TFLite Micro's greedy-by-size does not for MobileNet
//!   (64,512 B instead of 55,296 B on vww_96).
//! * **greedy by size** (TFLite Micro's `GreedyMemoryPlanner`) and **greedy by
//!   first use**: robust for graphs with branches.

/// Alignment of every buffer offset (word loads in SIMD kernels).
pub const ALIGN: usize = 4;

/// One buffer to place: byte size and inclusive lifetime in operator indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    pub size: usize,
    pub first: usize,
    pub last: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub offsets: Vec<usize>,
    pub arena_size: usize,
    pub strategy: &'static str,
}

fn align(x: usize) -> usize {
    x.div_ceil(ALIGN) * ALIGN
}

fn live_together(a: &Buffer, b: &Buffer) -> bool {
    a.first <= b.last && b.first <= a.last
}

/// The largest total size of buffers alive at the same operator: no plan
/// without overlapping live buffers can be smaller.
pub fn lower_bound(buffers: &[Buffer]) -> usize {
    let end = buffers.iter().map(|b| b.last).max().unwrap_or(0);
    (0..=end)
        .map(|t| {
            buffers
                .iter()
                .filter(|b| b.first <= t && t <= b.last)
                .map(|b| align(b.size))
                .sum()
        })
        .max()
        .unwrap_or(0)
}

/// Whether a placement keeps every pair of simultaneously live buffers apart.
pub fn is_valid(buffers: &[Buffer], offsets: &[usize]) -> bool {
    buffers.len() == offsets.len()
        && buffers.iter().enumerate().all(|(i, a)| {
            buffers.iter().enumerate().skip(i + 1).all(|(j, b)| {
                !live_together(a, b)
                    || offsets[i] + a.size <= offsets[j]
                    || offsets[j] + b.size <= offsets[i]
            })
        })
}

/// Occupied intervals of already placed buffers that live together with `b`.
fn conflicts(buffers: &[Buffer], placed: &[Option<usize>], b: &Buffer) -> Vec<(usize, usize)> {
    let mut v: Vec<(usize, usize)> = buffers
        .iter()
        .zip(placed)
        .filter_map(|(o, p)| {
            p.filter(|_| live_together(o, b))
                .map(|p| (p, p + align(o.size)))
        })
        .collect();
    v.sort_unstable();
    v
}

fn lowest_fit(busy: &[(usize, usize)], size: usize) -> usize {
    let mut at = 0;
    for &(s, e) in busy {
        if at + size <= s {
            break;
        }
        at = at.max(e);
    }
    at
}

fn highest_fit(busy: &[(usize, usize)], size: usize, top: usize) -> Option<usize> {
    let candidates = core::iter::once(top.checked_sub(size))
        .chain(busy.iter().map(|&(s, _)| s.checked_sub(size)))
        .flatten();
    candidates
        .filter(|&o| busy.iter().all(|&(s, e)| o + size <= s || e <= o))
        .max()
}

fn greedy(buffers: &[Buffer], order: &[usize]) -> Vec<usize> {
    let mut placed = vec![None; buffers.len()];
    for &i in order {
        let busy = conflicts(buffers, &placed, &buffers[i]);
        placed[i] = Some(lowest_fit(&busy, align(buffers[i].size)));
    }
    placed.into_iter().map(|p| p.unwrap_or(0)).collect()
}

fn two_sided(buffers: &[Buffer], top: usize) -> Option<Vec<usize>> {
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by_key(|&i| (buffers[i].first, buffers[i].last, i));
    let mut placed = vec![None; buffers.len()];
    for (k, &i) in order.iter().enumerate() {
        let size = align(buffers[i].size);
        let busy = conflicts(buffers, &placed, &buffers[i]);
        placed[i] = Some(if k % 2 == 0 {
            lowest_fit(&busy, size)
        } else {
            highest_fit(&busy, size, top)?
        });
    }
    Some(placed.into_iter().map(|p| p.unwrap_or(0)).collect())
}

/// Places every buffer; never fails (greedy always succeeds).
pub fn plan(buffers: &[Buffer]) -> Plan {
    let size_of = |offsets: &[usize]| {
        buffers
            .iter()
            .zip(offsets)
            .map(|(b, o)| o + align(b.size))
            .max()
            .unwrap_or(0)
    };
    let mut by_size: Vec<usize> = (0..buffers.len()).collect();
    by_size.sort_by_key(|&i| (core::cmp::Reverse(buffers[i].size), buffers[i].first, i));
    let mut by_first: Vec<usize> = (0..buffers.len()).collect();
    by_first.sort_by_key(|&i| (buffers[i].first, i));
    let mut candidates = vec![
        ("greedy_by_size", greedy(buffers, &by_size)),
        ("greedy_by_first_use", greedy(buffers, &by_first)),
    ];
    if let Some(o) = two_sided(buffers, lower_bound(buffers)) {
        candidates.push(("two_sided", o));
    }
    candidates
        .into_iter()
        .filter(|(_, o)| is_valid(buffers, o))
        .map(|(strategy, offsets)| Plan {
            arena_size: size_of(&offsets),
            offsets,
            strategy,
        })
        .min_by_key(|p| p.arena_size)
        .unwrap_or(Plan {
            offsets: Vec::new(),
            arena_size: 0,
            strategy: "empty",
        })
}

/// How operator `k` of a chain relates its input buffer to its output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The output must not overlap the input.
    Separate,
    /// The output may overlap the input if `out_offset - in_offset <= delta`
    /// (see `kernels::Window::in_place_delta`).
    InPlace(isize),
}

/// Offsets for a chain of buffers `b0 -> b1 -> ...` where operator `k` reads
/// only `b_k` and writes only `b_{k+1}` (MobileNet-like graphs), allowing
/// in-place operators to overlap their input. Returns `None` when the inputs
/// are inconsistent.
///
/// For a given arena size the feasible offsets of `b_{k+1}` depend only on the
/// lowest and highest feasible offsets of `b_k`, so feasibility is one pass
/// over the chain; a binary search finds the smallest arena, and walking the
/// chain backwards picks offsets.
pub fn plan_chain(sizes: &[usize], links: &[Link]) -> Option<Plan> {
    if sizes.is_empty() || sizes.len() != links.len() + 1 {
        return None;
    }
    // Work in units of ALIGN.
    let units: Vec<i64> = sizes.iter().map(|&s| (align(s) / ALIGN) as i64).collect();
    let deltas: Vec<i64> = links
        .iter()
        .zip(&units[1..])
        .map(|(l, &next)| match l {
            Link::Separate => -next,
            Link::InPlace(d) => (*d as i64).div_euclid(ALIGN as i64).max(-next),
        })
        .collect();
    // Feasible offsets of each buffer: a union of at most two intervals.
    let feasible = |arena: i64| -> Option<Vec<Vec<(i64, i64)>>> {
        let mut sets = Vec::with_capacity(units.len());
        let top = arena - units[0];
        if top < 0 {
            return None;
        }
        sets.push(vec![(0, top)]);
        for k in 0..deltas.len() {
            let prev: &Vec<(i64, i64)> = &sets[k];
            let (lo, hi) = (prev.first()?.0, prev.last()?.1);
            let top = arena - units[k + 1];
            let below = (0, top.min(hi + deltas[k]));
            let above = (lo + units[k], top);
            let mut set: Vec<(i64, i64)> =
                [below, above].into_iter().filter(|(a, b)| a <= b).collect();
            if set.len() == 2 && set[1].0 <= set[0].1 + 1 {
                set = vec![(set[0].0, set[0].1.max(set[1].1))];
            }
            if set.is_empty() {
                return None;
            }
            sets.push(set);
        }
        Some(sets)
    };
    let largest = *units.iter().max()?;
    let mut hi = units.iter().sum::<i64>();
    feasible(hi)?;
    let mut lo = largest;
    while lo < hi {
        let mid = (lo + hi) / 2;
        if feasible(mid).is_some() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let offsets = fewest_overlaps(&units, &deltas, hi).map_or_else(
        || {
            let sets = feasible(hi)?;
            walk_back(&sets, &deltas)
        },
        Some,
    )?;
    Some(Plan {
        offsets: offsets.iter().map(|&o| o as usize * ALIGN).collect(),
        arena_size: hi as usize * ALIGN,
        strategy: "chain_in_place",
    })
}

/// Offsets for the chain in an arena of `arena` units that let as few
/// operators as possible overlap their output with their input: an
/// overlapping (in-place) operator runs one output row per kernel call, and
/// the Cortex-M4 kernels then repeat their per-call preparation on every
/// row. Dynamic programming over candidate offsets (the arena's ends and
/// each neighbour's offset moved by a buffer size or an in-place delta,
/// which includes every offset [`walk_back`] can pick); `None` when the
/// candidates admit no placement.
fn fewest_overlaps(units: &[i64], deltas: &[i64], arena: i64) -> Option<Vec<i64>> {
    /// Candidates kept per buffer, so the search stays quadratic in it.
    const KEEP: usize = 256;
    let top = |k: usize| arena - units[k];
    let mut cands: Vec<Vec<i64>> = vec![vec![0, top(0)]];
    // best[k][i]: (overlaps so far, index of the predecessor's candidate).
    let mut best: Vec<Vec<(u32, usize)>> = vec![vec![(0, 0); 2]];
    for k in 0..deltas.len() {
        let prev = &cands[k];
        let mut next: Vec<i64> = [0, top(k + 1)]
            .into_iter()
            .chain(
                prev.iter()
                    .flat_map(|&c| [c + units[k], c - units[k + 1], c + deltas[k]]),
            )
            .filter(|&c| (0..=top(k + 1)).contains(&c))
            .collect();
        next.sort_unstable();
        next.dedup();
        let mut scored: Vec<(i64, (u32, usize))> = next
            .into_iter()
            .filter_map(|c2| {
                prev.iter()
                    .enumerate()
                    .filter(|&(_, &c)| c2 <= c + deltas[k] || c2 >= c + units[k])
                    .map(|(i, &c)| {
                        let overlap = c2 + units[k + 1] > c && c2 < c + units[k];
                        (best[k][i].0 + u32::from(overlap), i)
                    })
                    .min()
                    .map(|b| (c2, b))
            })
            .collect();
        if scored.is_empty() {
            return None;
        }
        if scored.len() > KEEP {
            scored.sort_by_key(|&(c, (cost, _))| (cost, c));
            scored.truncate(KEEP);
            scored.sort_by_key(|&(c, _)| c);
        }
        cands.push(scored.iter().map(|&(c, _)| c).collect());
        best.push(scored.iter().map(|&(_, b)| b).collect());
    }
    let last = cands.len() - 1;
    let (mut i, _) = best[last]
        .iter()
        .enumerate()
        .min_by_key(|&(_, &(cost, _))| cost)?;
    let mut offsets = vec![0i64; cands.len()];
    for k in (0..=last).rev() {
        offsets[k] = cands[k][i];
        i = best[k][i].1;
    }
    Some(offsets)
}

/// Offsets from the feasible sets of [`plan_chain`], last buffer first.
fn walk_back(sets: &[Vec<(i64, i64)>], deltas: &[i64]) -> Option<Vec<i64>> {
    let mut offsets = vec![0i64; sets.len()];
    let last = sets.len() - 1;
    offsets[last] = sets[last].first()?.0;
    for k in (0..last).rev() {
        let (lo, hi) = (sets[k].first()?.0, sets[k].last()?.1);
        offsets[k] = if offsets[k + 1] <= hi + deltas[k] {
            hi
        } else {
            lo
        };
    }
    Some(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(sizes: &[usize]) -> Vec<Buffer> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| Buffer {
                size,
                first: i.saturating_sub(1),
                last: i,
            })
            .collect()
    }

    #[test]
    fn chain_reaches_lower_bound() {
        // The start of MobileNetV1 0.25 at 96x96: input, conv1, dw1, pw1, dw2, pw2.
        let b = chain(&[27648, 18432, 18432, 36864, 9216, 18432]);
        let p = plan(&b);
        assert!(is_valid(&b, &p.offsets));
        assert_eq!(p.arena_size, 55296);
        assert_eq!(lower_bound(&b), 55296);
    }

    #[test]
    fn chain_in_place_beats_separate_buffers() {
        // vww's first layers with their in-place deltas (see Window::in_place_delta).
        let sizes = [27648, 18432, 18432, 36864, 9216];
        let links = [
            Link::InPlace(-384),
            Link::InPlace(-768),
            Link::InPlace(-18816),
            Link::InPlace(-384),
        ];
        let p = plan_chain(&sizes, &links).unwrap();
        // The pointwise pair needs 18432 + 18816 B, and the stride-2 depthwise after
        // it writes 384 B below its input.
        assert_eq!(p.arena_size, 18432 + 18816 + 384);
        for k in 0..links.len() {
            let (a, b) = (p.offsets[k] as isize, p.offsets[k + 1] as isize);
            let Link::InPlace(d) = links[k] else {
                unreachable!()
            };
            let separate = b + sizes[k + 1] as isize <= a || b >= a + sizes[k] as isize;
            assert!(separate || b - a <= d, "op {k}: {a} -> {b}");
        }
        // Without in-place links the chain needs the largest neighbouring pair.
        let separate = plan_chain(&sizes, &[Link::Separate; 4]).unwrap();
        assert_eq!(separate.arena_size, 55296);
    }

    /// Where the smallest arena leaves room, in-place links are placed
    /// apart (an overlapping operator runs one output row per kernel call).
    /// The chain is the start of the studio's MobileNetV1 0.25 at 96x96
    /// (input to the fourth pointwise layer), whose operators 5 and 6 the
    /// previous walk put in place.
    #[test]
    fn chain_keeps_outputs_apart_when_the_arena_allows() {
        let sizes = [
            27_648, 18_432, 18_432, 36_864, 9_216, 18_432, 18_432, 18_432,
        ];
        let deltas = [-384, -768, -18_816, -384, -9_600, -1_536, -768];
        let links: Vec<Link> = deltas.iter().map(|&d| Link::InPlace(d)).collect();
        let p = plan_chain(&sizes, &links).unwrap();
        assert_eq!(p.arena_size, 37_632);
        let apart = |k: usize| {
            let (a, b) = (p.offsets[k] as isize, p.offsets[k + 1] as isize);
            b + sizes[k + 1] as isize <= a || b >= a + sizes[k] as isize
        };
        assert!(apart(5) && apart(6), "{:?}", p.offsets);
    }

    #[test]
    fn branches_stay_valid() {
        let b = vec![
            Buffer {
                size: 100,
                first: 0,
                last: 2,
            },
            Buffer {
                size: 50,
                first: 0,
                last: 1,
            },
            Buffer {
                size: 70,
                first: 1,
                last: 2,
            },
            Buffer {
                size: 30,
                first: 2,
                last: 3,
            },
        ];
        let p = plan(&b);
        assert!(is_valid(&b, &p.offsets));
        assert!(p.arena_size >= lower_bound(&b));
    }
}
