//! Dense industry codes: arbitrary integer labels (e.g. 8-digit GICS codes such as 10101010)
//! mapped once to `0..G−1`, `−1` kept as "none".
//!
//! Codes are labels, not sizes: nothing here is ever sized by the largest code (only by the
//! number of cells or of distinct values). Each chunk of the input is mapped to chunk-local ids
//! with a small open-addressing hash map (in parallel); the chunks' distinct values are merged and
//! sorted; then each chunk's local ids are replaced by positions in that sorted list through a
//! lookup table (in parallel). O(n) hashing plus a sort of the distinct values; the result is a
//! pure function of the input (the same for any number of threads).

use rayon::prelude::*;

use crate::error::Result;
use crate::parallel;
use crate::value_error;

/// Cells per parallel task (a fixed split; the result does not depend on it).
const CHUNK: usize = 1 << 16;

/// The "none" code, kept as is.
const NONE: i64 = -1;

/// A minimal open-addressing hash map `i64 → u32` with linear probing (Fibonacci hashing), at
/// most half full. `i64::MIN` marks an empty slot, so that key itself is stored apart; `len`
/// counts the keys in slots.
struct Table {
    keys: Vec<i64>,
    vals: Vec<u32>,
    shift: u32,
    len: usize,
    min_key: Option<u32>,
}

const EMPTY: i64 = i64::MIN;

impl Table {
    fn with_capacity(n: usize) -> Table {
        // at most half full: 2n slots rounded up to a power of two (≥ 16)
        let slots = (2 * n.max(8)).next_power_of_two();
        Table {
            keys: vec![EMPTY; slots],
            vals: vec![0; slots],
            shift: 64 - slots.trailing_zeros(),
            len: 0,
            min_key: None,
        }
    }

    #[inline(always)]
    fn slot(&self, key: i64) -> usize {
        ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The value of `key`, inserting `key → val` first when it is absent.
    #[inline]
    fn get_or_insert(&mut self, key: i64, val: u32) -> u32 {
        if key == EMPTY {
            return *self.min_key.get_or_insert(val);
        }
        if 2 * (self.len + 1) > self.keys.len() {
            self.grow();
        }
        let mask = self.keys.len() - 1;
        let mut i = self.slot(key);
        loop {
            let k = self.keys[i];
            if k == key {
                return self.vals[i];
            }
            if k == EMPTY {
                self.keys[i] = key;
                self.vals[i] = val;
                self.len += 1;
                return val;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let old_keys = std::mem::take(&mut self.keys);
        let old_vals = std::mem::take(&mut self.vals);
        let min_key = self.min_key;
        *self = Table::with_capacity(old_keys.len());
        self.min_key = min_key;
        for (k, v) in old_keys.into_iter().zip(old_vals) {
            if k != EMPTY {
                self.get_or_insert(k, v);
            }
        }
    }
}

/// Map one chunk to chunk-local ids (in order of first appearance; `−1` stays `−1`) and return
/// the chunk's distinct values, indexed by local id.
fn local_ids(codes: &[i64], out: &mut [i32]) -> Vec<i64> {
    let mut table = Table::with_capacity(64);
    let mut keys: Vec<i64> = Vec::new();
    let (mut last, mut last_id) = (NONE, -1i32);
    for (o, &v) in out.iter_mut().zip(codes) {
        if v != last {
            last = v;
            last_id = if v == NONE {
                -1
            } else {
                let next = keys.len() as u32;
                let id = table.get_or_insert(v, next);
                if id == next {
                    keys.push(v);
                }
                id as i32
            };
        }
        *o = last_id;
    }
    keys
}

/// Map `codes` to dense codes into `out` (same length): `−1` stays `−1`, any other value `v`
/// becomes its position in the returned sorted list of distinct values (which excludes `−1`).
/// Values below `−1` are ordinary values here (the caller decides whether to allow them).
///
/// Pass 1 (parallel over chunks): chunk-local ids through a small hash map, written to `out`,
/// and each chunk's distinct values. Merge: the sorted union of those values. Pass 2 (parallel):
/// each chunk's local ids → positions in the union, through a table of the chunk's size.
pub fn dense_codes_into(codes: &[i64], out: &mut [i32]) -> Result<Vec<i64>> {
    if out.len() != codes.len() {
        return Err(value_error!(
            "out has {} cells, codes has {}",
            out.len(),
            codes.len()
        ));
    }
    let locals: Vec<Vec<i64>> = out
        .par_chunks_mut(CHUNK)
        .zip(codes.par_chunks(CHUNK))
        .map(|(o, c)| {
            if parallel::cancelled() {
                return Vec::new(); // the caller discards the whole result
            }
            local_ids(c, o)
        })
        .collect();
    if parallel::cancelled() {
        // some chunks were skipped: their ids are not written, so pass 2 must not read them
        return Ok(Vec::new());
    }
    let mut values: Vec<i64> = locals.iter().flatten().copied().collect();
    values.par_sort_unstable();
    values.dedup();
    if values.len() > i32::MAX as usize {
        return Err(value_error!(
            "codes has {} distinct values, more than int32 dense codes can hold",
            values.len()
        ));
    }
    out.par_chunks_mut(CHUNK)
        .zip(locals.par_iter())
        .for_each(|(o, keys)| {
            if parallel::cancelled() {
                return;
            }
            // every local value is in `values` (it was collected above)
            let remap: Vec<i32> = keys
                .iter()
                .map(|k| values.binary_search(k).map_or(-1, |j| j as i32))
                .collect();
            for x in o.iter_mut() {
                if *x >= 0 {
                    *x = remap[*x as usize];
                }
            }
        });
    Ok(values)
}

/// [`dense_codes_into`] into a new vector: `(dense codes, sorted distinct values)`.
pub fn dense_codes(codes: &[i64]) -> Result<(Vec<i32>, Vec<i64>)> {
    let mut out = vec![0i32; codes.len()];
    let values = dense_codes_into(codes, &mut out)?;
    Ok((out, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked() {
        // values {−5, 3, 7, 10101010}: −5 → 0, 3 → 1, 7 → 2, 10101010 → 3; −1 stays −1.
        let codes = [7, -1, 10101010, 3, 7, -5, -1, 3];
        let (dense, values) = dense_codes(&codes).unwrap();
        assert_eq!(values, vec![-5, 3, 7, 10101010]);
        assert_eq!(dense, vec![2, -1, 3, 1, 2, 0, -1, 1]);
    }

    #[test]
    fn empty_and_all_none() {
        let (d, v) = dense_codes(&[]).unwrap();
        assert!(d.is_empty() && v.is_empty());
        let (d, v) = dense_codes(&[-1, -1, -1]).unwrap();
        assert_eq!(d, vec![-1, -1, -1]);
        assert!(v.is_empty());
    }

    #[test]
    fn extreme_values_including_the_empty_marker() {
        let codes = [i64::MIN, i64::MAX, 0, i64::MIN, -1, i64::MAX - 1];
        let (d, v) = dense_codes(&codes).unwrap();
        assert_eq!(v, vec![i64::MIN, 0, i64::MAX - 1, i64::MAX]);
        assert_eq!(d, vec![0, 3, 1, 0, -1, 2]);
    }

    #[test]
    fn gics_like_codes_over_many_chunks() {
        // 70 distinct 8-digit codes over more cells than one chunk, against sort + binary search.
        let gics: Vec<i64> = (0..70).map(|j| 10_000_000 + 101_010 * (j as i64 % 11) + 10 * j as i64).collect();
        let n = 3 * CHUNK + 17;
        let codes: Vec<i64> = (0..n)
            .map(|i| if i % 13 == 0 { -1 } else { gics[(i * 7919 + i / 5) % 70] })
            .collect();
        let (dense, values) = dense_codes(&codes).unwrap();
        let mut want = gics.clone();
        want.sort_unstable();
        want.dedup();
        assert_eq!(values, want);
        for (i, &c) in codes.iter().enumerate() {
            let expect = if c == -1 { -1 } else { want.binary_search(&c).unwrap() as i32 };
            assert_eq!(dense[i], expect);
        }
    }

    #[test]
    fn many_distinct_values_grow_the_tables() {
        let n = 2 * CHUNK + 3;
        let codes: Vec<i64> = (0..n).map(|i| ((i as i64 * 2_654_435_761) % 1_000_003) - 500_000).collect();
        let (dense, values) = dense_codes(&codes).unwrap();
        let mut want = codes.iter().copied().filter(|&v| v != -1).collect::<Vec<_>>();
        want.sort_unstable();
        want.dedup();
        assert_eq!(values, want);
        for (i, &c) in codes.iter().enumerate() {
            let expect = if c == -1 { -1 } else { want.binary_search(&c).unwrap() as i32 };
            assert_eq!(dense[i], expect);
        }
    }

    #[test]
    fn length_mismatch_is_an_error() {
        let mut out = [0i32; 2];
        assert!(dense_codes_into(&[1, 2, 3], &mut out).is_err());
    }
}
