//! [`SequenceTracker`]: what one subscriber saw of one publisher's sequence numbers.

/// Sequence numbers remembered below the highest one seen, to tell a duplicate from a late
/// message. Anything older than this counts as out of order (and, if it really was a
/// duplicate, is missed: far beyond any reordering a working server produces).
const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// Counts unique, duplicated and out-of-order arrivals of one publisher's messages at one
/// subscriber, in constant memory.
#[derive(Debug, Clone)]
pub struct SequenceTracker {
    /// Highest sequence number seen plus one (0: none yet).
    next: u64,
    /// Ring of seen flags for `next - WINDOW .. next`, indexed by `sequence % WINDOW`.
    seen: [u64; WORDS],
    /// Messages seen for the first time.
    pub unique: u64,
    /// Messages seen again.
    pub duplicated: u64,
    /// Messages that arrived after a later one of the same publisher.
    pub out_of_order: u64,
}

impl Default for SequenceTracker {
    fn default() -> SequenceTracker {
        SequenceTracker::new()
    }
}

impl SequenceTracker {
    /// Nothing seen yet.
    pub fn new() -> SequenceTracker {
        SequenceTracker {
            next: 0,
            seen: [0; WORDS],
            unique: 0,
            duplicated: 0,
            out_of_order: 0,
        }
    }

    fn bit(sequence: u64) -> (usize, u64) {
        let slot = sequence % WINDOW;
        ((slot / 64) as usize, 1u64 << (slot % 64))
    }

    /// Records the arrival of `sequence`.
    pub fn record(&mut self, sequence: u64) {
        if sequence >= self.next {
            // Clear the flags of the numbers skipped over (they may still arrive, late).
            let skipped = sequence - self.next;
            if skipped >= WINDOW {
                self.seen = [0; WORDS];
            } else {
                for missing in self.next..sequence {
                    let (word, mask) = SequenceTracker::bit(missing);
                    self.seen[word] &= !mask;
                }
            }
            let (word, mask) = SequenceTracker::bit(sequence);
            self.seen[word] |= mask;
            self.next = sequence + 1;
            self.unique += 1;
            return;
        }
        if self.next - sequence > WINDOW {
            self.unique += 1;
            self.out_of_order += 1;
            return;
        }
        let (word, mask) = SequenceTracker::bit(sequence);
        if self.seen[word] & mask != 0 {
            self.duplicated += 1;
        } else {
            self.seen[word] |= mask;
            self.unique += 1;
            self.out_of_order += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SequenceTracker;

    #[test]
    fn in_order_late_and_repeated() {
        let mut t = SequenceTracker::new();
        for s in 0..5000 {
            t.record(s);
        }
        assert_eq!((t.unique, t.duplicated, t.out_of_order), (5000, 0, 0));
        t.record(4999);
        assert_eq!(t.duplicated, 1);
        t.record(5002);
        t.record(5000);
        t.record(5000);
        assert_eq!((t.unique, t.duplicated, t.out_of_order), (5002, 2, 1));
        // 5001 never arrives: lost = sent - unique.
        t.record(10_000);
        t.record(5001);
        assert_eq!((t.unique, t.out_of_order), (5004, 2));
    }
}
