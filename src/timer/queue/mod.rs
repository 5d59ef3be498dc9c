//! The timer queue: deadlines ordered by (due time, start order), with O(1) removal.
//!
//! A plain data structure with no clock and no loop, so it can be tested against a simple oracle
//! (see `tests/timer_queue_props.rs`). Timers that share a deadline (common: every timer started
//! with the same duration in one callback shares the cached `now`) live in one FIFO bucket, so the
//! ordered map holds one entry per *distinct* deadline and a start is an append.

use std::collections::BTreeMap;

use slab::Slab;

const NIL: usize = usize::MAX;

/// Names an entry in a [`TimerQueue`] while it is queued. Invalid once popped or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey(u32);

#[derive(Debug)]
struct Node<T> {
    due: u64,
    seq: u64,
    prev: usize,
    next: usize,
    value: T,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    head: usize,
    tail: usize,
}

/// An entry returned by [`TimerQueue::pop_due`] or [`TimerQueue::peek`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expired<T> {
    /// The deadline it was queued with.
    pub(crate) due: u64,
    /// Its start-order number (strictly increasing over the queue's life).
    pub(crate) seq: u64,
    /// The value it was queued with.
    pub(crate) value: T,
}

/// Deadlines in `u64` ticks (the loop uses nanoseconds), ordered by `(due, start order)`.
///
/// Insert is O(log D) for D distinct deadlines (O(1) amortised for a repeated deadline), remove is
/// O(1) plus O(log D) when it empties a bucket, pop is O(log D).
#[derive(Debug)]
pub(crate) struct TimerQueue<T> {
    buckets: BTreeMap<u64, Bucket>,
    nodes: Slab<Node<T>>,
    next_seq: u64,
}

impl<T: Copy> Default for TimerQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> TimerQueue<T> {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        Self {
            buckets: BTreeMap::new(),
            nodes: Slab::new(),
            next_seq: 0,
        }
    }

    /// Number of queued entries.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The start-order number the next insert will get. Entries inserted from now on compare
    /// greater than every entry already queued.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Queues `value` at `due`, after every entry already queued at the same deadline.
    pub(crate) fn insert(&mut self, due: u64, value: T) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.nodes.insert(Node {
            due,
            seq,
            prev: NIL,
            next: NIL,
            value,
        });
        match self.buckets.get_mut(&due) {
            Some(bucket) => {
                let tail = bucket.tail;
                bucket.tail = key;
                self.nodes[tail].next = key;
                self.nodes[key].prev = tail;
            }
            None => {
                self.buckets.insert(
                    due,
                    Bucket {
                        head: key,
                        tail: key,
                    },
                );
            }
        }
        TimerKey(u32::try_from(key).unwrap_or_else(|_| {
            // 4 billion queued timers cannot fit in memory anyway.
            panic!("evloop: timer queue overflow")
        }))
    }

    /// Removes a queued entry, returning its value; `None` if `key` is not queued.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        let node = self.nodes.try_remove(key.0 as usize)?;
        self.unlink(key.0 as usize, &node);
        Some(node.value)
    }

    /// The deadline of a queued entry.
    pub(crate) fn due(&self, key: TimerKey) -> Option<u64> {
        self.nodes.get(key.0 as usize).map(|n| n.due)
    }

    /// The earliest entry, without removing it.
    #[cfg(test)]
    pub(crate) fn peek(&self) -> Option<Expired<T>> {
        let (_, bucket) = self.buckets.first_key_value()?;
        let node = &self.nodes[bucket.head];
        Some(Expired {
            due: node.due,
            seq: node.seq,
            value: node.value,
        })
    }

    /// The earliest deadline.
    pub(crate) fn next_due(&self) -> Option<u64> {
        self.buckets.first_key_value().map(|(due, _)| *due)
    }

    /// Removes and returns the earliest entry if its deadline is `<= now` and it was inserted
    /// before start-order number `before_seq` (so entries added during a timer pass wait for the
    /// next pass).
    pub(crate) fn pop_due(&mut self, now: u64, before_seq: u64) -> Option<Expired<T>> {
        let mut first = self.buckets.first_entry()?;
        if *first.key() > now {
            return None;
        }
        let key = first.get().head;
        let node = &self.nodes[key];
        if node.seq >= before_seq {
            return None;
        }
        let next = node.next;
        if next == NIL {
            first.remove();
        } else {
            first.get_mut().head = next;
            self.nodes[next].prev = NIL;
        }
        let node = self.nodes.remove(key);
        Some(Expired {
            due: node.due,
            seq: node.seq,
            value: node.value,
        })
    }

    fn unlink(&mut self, key: usize, node: &Node<T>) {
        if node.prev != NIL {
            self.nodes[node.prev].next = node.next;
        }
        if node.next != NIL {
            self.nodes[node.next].prev = node.prev;
        }
        if node.prev == NIL || node.next == NIL {
            let std::collections::btree_map::Entry::Occupied(mut bucket) =
                self.buckets.entry(node.due)
            else {
                return;
            };
            let b = bucket.get_mut();
            if b.head == key && b.tail == key {
                bucket.remove();
            } else if b.head == key {
                b.head = node.next;
            } else if b.tail == key {
                b.tail = node.prev;
            }
        }
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_deadlines_pop_in_insert_order() {
        let mut q = TimerQueue::new();
        q.insert(10, 'a');
        q.insert(5, 'b');
        q.insert(10, 'c');
        q.insert(5, 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop_due(100, u64::MAX))
            .map(|e| e.value)
            .collect();
        assert_eq!(order, ['b', 'd', 'a', 'c']);
        assert!(q.is_empty());
    }

    #[test]
    fn remove_from_head_middle_and_tail_of_a_bucket() {
        let mut q = TimerQueue::new();
        let keys: Vec<_> = (0..5).map(|i| q.insert(7, i)).collect();
        assert_eq!(q.remove(keys[2]), Some(2));
        assert_eq!(q.remove(keys[0]), Some(0));
        assert_eq!(q.remove(keys[4]), Some(4));
        assert_eq!(q.remove(keys[4]), None);
        let rest: Vec<i32> = std::iter::from_fn(|| q.pop_due(7, u64::MAX))
            .map(|e| e.value)
            .collect();
        assert_eq!(rest, [1, 3]);
        assert_eq!(q.next_due(), None);
    }

    #[test]
    fn pop_respects_now_and_pass_boundary() {
        let mut q = TimerQueue::new();
        q.insert(5, 1);
        let boundary = q.next_seq();
        q.insert(5, 2);
        assert_eq!(q.pop_due(4, u64::MAX), None);
        assert_eq!(q.pop_due(5, boundary).map(|e| e.value), Some(1));
        assert_eq!(q.pop_due(5, boundary), None);
        assert_eq!(q.pop_due(5, u64::MAX).map(|e| e.value), Some(2));
    }
}
