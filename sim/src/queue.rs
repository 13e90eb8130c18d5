//! The event queue: events in order of time, and of scheduling among events at the same time,
//! so that a run is the same on every machine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use stanchion::Nanos;

/// A min-queue of `(time, sequence)` keys holding small `Copy` events.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_sim::queue::EventQueue;
/// let mut q = EventQueue::new();
/// q.push(Nanos::new(5), 'b');
/// q.push(Nanos::new(1), 'a');
/// q.push(Nanos::new(5), 'c');
/// assert_eq!(q.pop(), Some((Nanos::new(1), 'a')));
/// assert_eq!(q.pop(), Some((Nanos::new(5), 'b'))); // same time: first scheduled first
/// assert_eq!(q.pop(), Some((Nanos::new(5), 'c')));
/// ```
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<Entry<E>>>,
    next_seq: u64,
}

struct Entry<E> {
    key: (u64, u64),
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> EventQueue<E> {
        EventQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// Schedules `event` at `at`, after every event already scheduled for the same time.
    pub fn push(&mut self, at: Nanos, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry {
            key: (at.as_nanos(), seq),
            event,
        }));
    }

    /// The earliest event.
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        self.heap
            .pop()
            .map(|Reverse(e)| (Nanos::new(e.key.0), e.event))
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
