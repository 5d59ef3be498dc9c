//! Property test: TimerQueue against a sorted-Vec oracle.

use super::{TimerKey, TimerQueue};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert(u64),
    Remove(usize),
    Pop(u64),
    PopBoundary(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..50).prop_map(Op::Insert),
        2 => any::<usize>().prop_map(Op::Remove),
        2 => (0u64..60).prop_map(Op::Pop),
        1 => (0u64..60).prop_map(Op::PopBoundary),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn timer_queue_matches_a_sorted_vec(ops in proptest::collection::vec(op(), 1..200)) {
        let mut q = TimerQueue::new();
        // Oracle: (due, seq, value) kept sorted; keys tracked beside it.
        let mut oracle: Vec<(u64, u64, u32)> = Vec::new();
        let mut keys: Vec<(u32, TimerKey)> = Vec::new();
        let mut seq = 0u64;
        let mut next_value = 0u32;
        for op in ops {
            match op {
                Op::Insert(due) => {
                    let v = next_value;
                    next_value += 1;
                    let k = q.insert(due, v);
                    keys.push((v, k));
                    oracle.push((due, seq, v));
                    seq += 1;
                    oracle.sort();
                }
                Op::Remove(i) => {
                    if keys.is_empty() { continue; }
                    let (v, k) = keys.remove(i % keys.len());
                    prop_assert_eq!(q.remove(k), Some(v));
                    prop_assert_eq!(q.remove(k), None);
                    oracle.retain(|e| e.2 != v);
                }
                Op::Pop(now) | Op::PopBoundary(now) => {
                    let boundary = if matches!(op, Op::PopBoundary(_)) { seq.saturating_sub(3) } else { u64::MAX };
                    let got = q.pop_due(now, boundary).map(|e| (e.due, e.seq, e.value));
                    let want = oracle.first().copied().filter(|e| e.0 <= now && e.1 < boundary);
                    prop_assert_eq!(got, want);
                    if let Some(w) = want {
                        oracle.remove(0);
                        keys.retain(|(v, _)| *v != w.2);
                    }
                }
            }
            prop_assert_eq!(q.len(), oracle.len());
            prop_assert_eq!(q.next_due(), oracle.first().map(|e| e.0));
            prop_assert_eq!(q.peek().map(|e| e.value), oracle.first().map(|e| e.2));
        }
    }
}
