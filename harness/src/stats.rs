//! The statistics library: medians, quantiles, bootstrap intervals, HDR
//! percentiles, outlier counts and paired ratios, over plain slices. Every
//! median and quantile of the harness is computed here, so that one
//! definition holds everywhere a figure is written or shown.
//!
//! This module knows no row type and imports nothing of the crate; only
//! [`summary`] turns a run's samples ([`crate::results`]) into summary rows.
//! `results` imports nothing of `stats`, so the two form no circle.
//!
//! Two quantile definitions, both on sorted values, are used (see [`Rank`]):
//! medians and the calibration's p90 take the lower of two neighbours, the
//! ends of a bootstrap interval the nearest. The summary's `p50_ns`, `p90_ns`
//! and `p99_ns` are a third kind: HDR histogram buckets ([`percentiles`]).

use std::cmp::Ordering;

use hdrhistogram::Histogram;
use rand::Rng;

pub mod summary;

pub use summary::{find_row, summarize};

/// Resamples drawn for each bootstrap interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// A value the statistics can order: every one of them sorts and selects
/// through [`Value::order`], so integers and floats share one median.
pub trait Value: Copy {
    /// A total order: floats by [`f64::total_cmp`], so a NaN cannot make a
    /// sort or a selection inconsistent.
    fn order(a: &Self, b: &Self) -> Ordering;
}

impl Value for u64 {
    fn order(a: &u64, b: &u64) -> Ordering {
        a.cmp(b)
    }
}

impl Value for f64 {
    fn order(a: &f64, b: &f64) -> Ordering {
        a.total_cmp(b)
    }
}

/// Sorts `values` in [`Value::order`]. Unstable, which is safe: values equal
/// in that order are identical (for floats, bit for bit).
pub fn sort<T: Value>(values: &mut [T]) {
    values.sort_unstable_by(T::order);
}

/// How the fractional rank (n − 1)·q of a quantile becomes an index into
/// the sorted values: no interpolation, the result is always a value seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    /// Round down: the lower of the two neighbours. Medians (the lower middle
    /// of an even count) and the calibration's p90.
    Lower,
    /// Round to the nearest, halves away from zero: the ends of a bootstrap
    /// interval.
    Nearest,
}

impl Rank {
    /// The index of quantile `q` among `n` sorted values (`n` ≥ 1).
    fn index(self, n: usize, q: f64) -> usize {
        let at = (n - 1) as f64 * q;
        let i = match self {
            Rank::Lower => at.floor(),
            Rank::Nearest => at.round(),
        };
        i as usize
    }
}

/// Quantile `q` (0 to 1) of `sorted` (as [`sort`] leaves it) by `rank`;
/// `None` when there are no values.
pub fn quantile_sorted<T: Value>(sorted: &[T], q: f64, rank: Rank) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    sorted.get(rank.index(sorted.len(), q)).copied()
}

/// The exact median, the lower middle of an even count: a sample value,
/// never an average of two. Reorders `values` (a selection, not a sort),
/// which callers that reuse the order they leave rely on: see
/// [`crate::compare::permutation_p`].
pub fn median_in_place<T: Value>(values: &mut [T]) -> Option<T> {
    if values.is_empty() {
        return None;
    }
    let mid = Rank::Lower.index(values.len(), 0.5);
    Some(*values.select_nth_unstable_by(mid, T::order).1)
}

/// The exact median (lower middle for even counts, as a sample value).
pub fn median<T: Value>(values: &[T]) -> Option<T> {
    median_in_place(&mut values.to_vec())
}

/// The arithmetic mean; `None` when there are no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Percentiles of `values` from an HDR histogram (3 significant digits),
/// clamped to the observed range: a bucket's upper edge may lie above the
/// largest value, and a p99 above the max would be a number nobody measured.
///
/// The 0.5 percentile is therefore within 0.1% of the exact [`median`] but
/// not always equal to it.
pub fn percentiles(values: &[u64], quantiles: &[f64]) -> Option<Vec<u64>> {
    let (lo, hi) = (*values.iter().min()?, *values.iter().max()?);
    let mut h = Histogram::<u64>::new(3).expect("3 significant digits is a valid precision");
    for &v in values {
        h.record(v.max(1))
            .expect("auto-resizing histogram accepts any u64");
    }
    Some(
        quantiles
            .iter()
            .map(|&q| h.value_at_quantile(q).clamp(lo, hi))
            .collect(),
    )
}

/// A percentile bootstrap 95% CI of the [`median`]: `resamples` draws with
/// replacement, the 2.5th and 97.5th percentiles ([`Rank::Nearest`]) of
/// their medians. `None` without values or resamples.
///
/// The draws are part of what a seed reproduces: each resample takes
/// `values.len()` indices, `rng.random_range(0..len)`, in order, from
/// `values` in the order given.
pub fn bootstrap_median_ci<T: Value>(
    values: &[T],
    rng: &mut impl Rng,
    resamples: usize,
) -> Option<(T, T)> {
    if values.is_empty() || resamples == 0 {
        return None;
    }
    let mut medians = Vec::with_capacity(resamples);
    // Every slot is overwritten before each use; the copy only sizes it.
    let mut draw = values.to_vec();
    for _ in 0..resamples {
        for slot in draw.iter_mut() {
            *slot = values[rng.random_range(0..values.len())];
        }
        medians.push(median_in_place(&mut draw)?);
    }
    sort(&mut medians);
    Some((
        quantile_sorted(&medians, 0.025, Rank::Nearest)?,
        quantile_sorted(&medians, 0.975, Rank::Nearest)?,
    ))
}

/// How many values lie more than 3.5 robust z-scores from the median:
/// |x − median| / (1.4826 · MAD) > 3.5 (Iglewicz and Hoaglin). Outliers are
/// counted and reported, never removed.
pub fn mad_outliers(values: &[u64]) -> usize {
    let Some(m) = median(values) else { return 0 };
    let deviations: Vec<u64> = values.iter().map(|&v| v.abs_diff(m)).collect();
    let mad = median(&deviations).unwrap_or(0) as f64 * 1.4826;
    if mad == 0.0 {
        return 0;
    }
    values
        .iter()
        .filter(|&&v| v.abs_diff(m) as f64 / mad > 3.5)
        .count()
}

/// The median of per-round ratios `a / b` (each pair measured in the same
/// round, so drift hits both) with a bootstrap 95% CI of that median.
pub fn paired_ratio(
    pairs: &[(f64, f64)],
    rng: &mut impl Rng,
    resamples: usize,
) -> Option<(f64, f64, f64)> {
    let mut ratios: Vec<f64> = pairs
        .iter()
        .filter(|(_, b)| *b > 0.0)
        .map(|(a, b)| a / b)
        .collect();
    // The bootstrap draws from the ratios sorted, as it always has: the same
    // seed keeps giving the same interval.
    sort(&mut ratios);
    let mid = quantile_sorted(&ratios, 0.5, Rank::Lower)?;
    let (lo, hi) = bootstrap_median_ci(&ratios, rng, resamples)?;
    Some((mid, lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn percentiles_are_within_hdr_precision() {
        let values: Vec<u64> = (1..=1000).map(|v| v * 1000).collect();
        let p = percentiles(&values, &[0.5, 0.99]).unwrap();
        assert!((p[0] as f64 / 500_000.0 - 1.0).abs() < 0.002, "{p:?}");
        assert!((p[1] as f64 / 990_000.0 - 1.0).abs() < 0.002, "{p:?}");
        assert_eq!(percentiles(&[], &[0.5]), None);
    }

    #[test]
    fn percentiles_never_leave_the_observed_range() {
        let values = [6_816_991u64, 2_981_036, 4_702_207];
        let p = percentiles(&values, &[0.0, 0.99, 1.0]).unwrap();
        assert!(
            p.iter().all(|&v| (2_981_036..=6_816_991).contains(&v)),
            "{p:?}"
        );
    }

    #[test]
    fn the_ci_brackets_the_median_and_narrows_with_more_data() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let few: Vec<u64> = (0..10).map(|i| 100 + i * 10).collect();
        let many: Vec<u64> = (0..1000).map(|i| 100 + (i % 10) * 10).collect();
        let (lo, hi) = bootstrap_median_ci(&few, &mut rng, 500).unwrap();
        let m = median(&few).unwrap();
        assert!(lo <= m && m <= hi, "{lo} {m} {hi}");
        let (lo2, hi2) = bootstrap_median_ci(&many, &mut rng, 500).unwrap();
        assert!(hi2 - lo2 < hi - lo, "{lo2}..{hi2} vs {lo}..{hi}");
    }

    #[test]
    fn outliers_are_counted_by_their_distance_from_the_median() {
        let mut values: Vec<u64> = (0..20).map(|i| 1000 + i * 5).collect();
        assert_eq!(mad_outliers(&values), 0);
        values.push(5000);
        assert_eq!(mad_outliers(&values), 1);
        assert_eq!(mad_outliers(&[7, 7, 7]), 0, "no spread, no outlier");
    }

    #[test]
    fn paired_ratios_take_each_round_together() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Drift doubles both targets' times in later rounds: the ratio stays 2.
        let pairs: Vec<(f64, f64)> = (1..=10).map(|r| (2.0 * r as f64, r as f64)).collect();
        let (mid, lo, hi) = paired_ratio(&pairs, &mut rng, 500).unwrap();
        assert_eq!((mid, lo, hi), (2.0, 2.0, 2.0));
        // Pairing matters: the median of the per-round ratios is 0.5, the
        // ratio of the two medians would be 10 / 2 = 5.
        let pairs = [(1.0, 2.0), (10.0, 1.0), (10.0, 20.0)];
        let (mid, _, _) = paired_ratio(&pairs, &mut rng, 500).unwrap();
        assert_eq!(mid, 0.5);
        assert_eq!(paired_ratio(&[(1.0, 0.0)], &mut rng, 10), None);
    }

    #[test]
    fn the_median_is_the_lower_middle_for_integers_and_floats() {
        assert_eq!(median(&[4u64, 1, 3, 2]), Some(2));
        assert_eq!(median(&[5u64, 1, 3]), Some(3));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.0));
        assert_eq!(median::<u64>(&[]), None);
        let mut v = [9.0, -1.0, 0.5];
        assert_eq!(median_in_place(&mut v), Some(0.5));
    }

    #[test]
    fn quantiles_round_down_or_to_the_nearest_rank() {
        let sorted: Vec<u64> = (0..=10).collect();
        assert_eq!(quantile_sorted(&sorted, 0.9, Rank::Lower), Some(9));
        assert_eq!(quantile_sorted(&[1u64, 2, 3, 4], 0.5, Rank::Lower), Some(2));
        assert_eq!(
            quantile_sorted(&[1u64, 2, 3, 4], 0.5, Rank::Nearest),
            Some(3)
        );
        assert_eq!(quantile_sorted::<u64>(&[], 0.5, Rank::Nearest), None);
        assert_eq!(quantile_sorted(&[7u64], 0.975, Rank::Nearest), Some(7));
    }

    #[test]
    fn the_lower_rank_is_the_integer_index_the_old_code_computed() {
        // The median was `(n - 1) / 2` and the calibration's p90
        // `(n - 1) * 9 / 10`, in integers; the float rank must agree.
        for n in 1..=200_000usize {
            assert_eq!(Rank::Lower.index(n, 0.5), (n - 1) / 2, "n = {n}");
            assert_eq!(Rank::Lower.index(n, 0.9), (n - 1) * 9 / 10, "n = {n}");
        }
    }

    /// The two bootstrap loops as they were before they shared this code:
    /// each resample's medians are taken from a sorted copy.
    fn old_bootstrap<T: Copy>(
        values: &[T],
        rng: &mut ChaCha8Rng,
        resamples: usize,
        cmp: fn(&T, &T) -> Ordering,
    ) -> (T, T) {
        let mut medians = Vec::new();
        let mut draw = values.to_vec();
        for _ in 0..resamples {
            for slot in draw.iter_mut() {
                *slot = values[rng.random_range(0..values.len())];
            }
            draw.sort_by(cmp);
            medians.push(draw[(draw.len() - 1) / 2]);
        }
        medians.sort_by(cmp);
        let at = |q: f64| medians[((resamples - 1) as f64 * q).round() as usize];
        (at(0.025), at(0.975))
    }

    #[test]
    fn the_shared_bootstrap_draws_what_the_two_old_loops_drew() {
        for seed in 0..20 {
            let mut data = ChaCha8Rng::seed_from_u64(1000 + seed);
            let len = 1 + seed as usize * 7;
            let ints: Vec<u64> = (0..len).map(|_| data.random_range(0..1_000_000)).collect();
            let floats: Vec<f64> = (0..len).map(|_| data.random::<f64>() * 3.0).collect();
            let (mut a, mut b) = (
                ChaCha8Rng::seed_from_u64(seed),
                ChaCha8Rng::seed_from_u64(seed),
            );
            assert_eq!(
                bootstrap_median_ci(&ints, &mut a, 301),
                Some(old_bootstrap(&ints, &mut b, 301, u64::cmp))
            );
            let new = bootstrap_median_ci(&floats, &mut a, 301).unwrap();
            let old = old_bootstrap(&floats, &mut b, 301, f64::total_cmp);
            assert_eq!(
                (new.0.to_bits(), new.1.to_bits()),
                (old.0.to_bits(), old.1.to_bits())
            );
            // Both leave the generator in the same state.
            assert_eq!(a.random::<u64>(), b.random::<u64>());
        }
    }

    #[test]
    fn nothing_to_draw_from_gives_no_interval() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(bootstrap_median_ci::<u64>(&[], &mut rng, 10), None);
        assert_eq!(bootstrap_median_ci(&[1u64], &mut rng, 0), None);
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
    }
}
