//! Latency histograms with a fixed bucket layout, so histograms from different hours, days and
//! servers add up by adding counts. Exact below 16 ms, then eight buckets per power of two: a
//! percentile read from a histogram is off by at most half a bucket, about 3%.
//!
//! The SQL function `gatehouse_latency_bucket` (migration 0005) computes the same bucket; a
//! test keeps the two in agreement.

use serde::{Deserialize, Serialize};

pub const BUCKETS: usize = 192;
const EXACT: u32 = 16;
const MAX_MS: u32 = (1 << 26) - 1;

/// The bucket a latency falls in.
pub fn bucket(ms: i32) -> usize {
    let v = (ms.max(0) as u32).min(MAX_MS);
    if v < EXACT {
        return v as usize;
    }
    let e = 31 - v.leading_zeros();
    (EXACT + (e - 4) * 8 + ((v >> (e - 3)) & 7)) as usize
}

/// The latencies bucket `b` holds: `[low, high)` in milliseconds.
pub fn bounds(b: usize) -> (f64, f64) {
    let b = b as u32;
    if b < EXACT {
        return (b as f64, b as f64 + 1.0);
    }
    let e = 4 + (b - EXACT) / 8;
    let sub = (b - EXACT) % 8;
    let low = (8 + sub) << (e - 3);
    let high = (9 + sub) << (e - 3);
    (low as f64, high as f64)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    counts: Vec<i64>,
    total: i64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, ms: i32) {
        self.record_many(ms, 1);
    }

    /// Records `n` calls that took `ms` each.
    pub fn record_many(&mut self, ms: i32, n: i64) {
        self.counts[bucket(ms)] += n;
        self.total += n;
    }

    /// Adds a stored histogram (an `integer[]` column).
    pub fn add_counts(&mut self, counts: &[i32]) {
        for (mine, &theirs) in self.counts.iter_mut().zip(counts) {
            *mine += theirs as i64;
            self.total += theirs as i64;
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    pub fn total(&self) -> i64 {
        self.total
    }

    /// The counts as stored in Postgres.
    pub fn to_counts(&self) -> Vec<i32> {
        self.counts.iter().map(|&c| c as i32).collect()
    }

    /// Non-empty buckets as `(low ms, high ms, count)`, for the latency distribution chart.
    pub fn buckets(&self) -> impl Iterator<Item = (f64, f64, i64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(b, &c)| {
                let (low, high) = bounds(b);
                (low, high, c)
            })
    }

    /// The latency at quantile `q` (0..=1), interpolated inside its bucket; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * self.total as f64).max(1.0);
        let mut seen = 0i64;
        for (b, &count) in self.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            if (seen + count) as f64 >= rank {
                let (low, high) = bounds(b);
                if b < EXACT as usize {
                    return Some(low);
                }
                let within = (rank - seen as f64) / count as f64;
                return Some(low + (high - low) * within);
            }
            seen += count;
        }
        None
    }

    /// Where a latency falls in this distribution, as the share of calls at or below its
    /// bucket (0..=1): the latency percentile shown beside each call.
    pub fn rank(&self, ms: i32) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let b = bucket(ms);
        let below: i64 = self.counts[..b].iter().sum();
        // Half of the call's own bucket counts as below it, so a value in a crowded bucket is
        // not pushed to the top of the range.
        Some((below as f64 + self.counts[b] as f64 / 2.0) / self.total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_for_small_values_and_narrow_for_large_ones() {
        for ms in 0..16 {
            assert_eq!(bucket(ms), ms as usize);
        }
        for ms in [16, 17, 100, 999, 1_000, 60_000, 3_600_000, MAX_MS as i32] {
            let (low, high) = bounds(bucket(ms));
            assert!(
                low <= ms as f64 && (ms as f64) < high,
                "{ms} in [{low}, {high})"
            );
            assert!((high - low) / low <= 0.125 + 1e-9, "{ms}: bucket too wide");
        }
        assert_eq!(bucket(-5), 0);
        assert_eq!(bucket(i32::MAX), BUCKETS - 1);
    }

    #[test]
    fn bucket_boundaries_follow_each_other_without_gaps() {
        for b in 0..BUCKETS - 1 {
            assert_eq!(bounds(b).1, bounds(b + 1).0, "bucket {b}");
        }
    }

    #[test]
    fn quantiles_are_within_a_bucket_of_the_exact_answer() {
        let mut histogram = Histogram::default();
        let values: Vec<i32> = (1..=10_000).map(|i| i * 3).collect();
        for &v in &values {
            histogram.record(v);
        }
        for q in [0.25, 0.5, 0.95, 0.99] {
            let exact = values[(q * values.len() as f64) as usize - 1] as f64;
            let estimate = histogram.quantile(q).unwrap();
            assert!(
                (estimate - exact).abs() / exact < 0.07,
                "q{q}: {estimate} vs {exact}"
            );
        }
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn histograms_add_up() {
        let (mut a, mut b, mut both) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for v in [1, 5, 20, 300] {
            a.record(v);
            both.record(v);
        }
        for v in [7, 7000] {
            b.record(v);
            both.record(v);
        }
        a.merge(&b);
        assert_eq!(a, both);
        let mut stored = Histogram::default();
        stored.add_counts(&both.to_counts());
        assert_eq!(stored, both);
    }

    #[test]
    fn rank_places_a_latency_in_its_distribution() {
        let mut histogram = Histogram::default();
        for v in 1..=100 {
            histogram.record(v * 10);
        }
        assert!(histogram.rank(10).unwrap() < 0.02);
        assert!((histogram.rank(500).unwrap() - 0.5).abs() < 0.05);
        assert!(histogram.rank(5000).unwrap() > 0.99);
    }
}
