//! The trace hash: a fingerprint of every delivery in a run, so that determinism is checkable
//! (same seed and configuration → same hash) without storing the trace itself.

/// FNV-1a (64-bit) over 64-bit words, for every frame delivered: time (ps); node, port and
/// frame length packed in one word; the first [`TRACE_PREFIX`] bytes of the frame (addresses,
/// tag, flow id and sequence number) as little-endian words, zero-padded.
///
/// FNV-1a is chosen for being fixed by definition (no seed, no version drift — unlike
/// `std::collections::hash_map::DefaultHasher`, whose algorithm is unspecified) and cheap;
/// taking it a word rather than a byte at a time makes it six multiplications per delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash {
    state: u64,
    records: u64,
}

/// Bytes of each frame that go into the hash.
pub const TRACE_PREFIX: usize = 32;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash {
            state: FNV_OFFSET,
            records: 0,
        }
    }
}

impl TraceHash {
    #[cfg(test)]
    fn bytes(&mut self, data: &[u8]) {
        for b in data {
            self.state ^= u64::from(*b);
            self.state = self.state.wrapping_mul(FNV_PRIME);
        }
    }

    fn word(&mut self, w: u64) {
        self.state ^= w;
        self.state = self.state.wrapping_mul(FNV_PRIME);
    }

    /// Adds one delivery.
    pub fn record(&mut self, at_ps: u64, node: u32, port: u16, frame: &[u8]) {
        self.word(at_ps);
        self.word(u64::from(node) << 40 | u64::from(port) << 24 | (frame.len() as u64 & 0xff_ffff));
        let prefix = &frame[..frame.len().min(TRACE_PREFIX)];
        let mut words = prefix.chunks_exact(8);
        for chunk in &mut words {
            // Whole words without a copy (a variable-length copy per word was a `memcpy` call).
            self.word(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut w = [0u8; 8];
            w[..tail.len()].copy_from_slice(tail);
            self.word(u64::from_le_bytes(w));
        }
        self.records += 1;
    }

    /// The hash so far.
    pub fn value(&self) -> u64 {
        self.state
    }

    /// Deliveries hashed.
    pub fn records(&self) -> u64 {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_reference_and_order_sensitivity() {
        let mut h = TraceHash::default();
        h.bytes(b"a");
        assert_eq!(h.value(), 0xaf63_dc4c_8601_ec8c); // FNV-1a 64 of "a"
        let (mut x, mut y) = (TraceHash::default(), TraceHash::default());
        x.record(1, 0, 0, b"ab");
        x.record(2, 0, 0, b"cd");
        y.record(2, 0, 0, b"cd");
        y.record(1, 0, 0, b"ab");
        assert_ne!(x.value(), y.value());
        assert_eq!(x.records(), 2);
    }

    /// The prefix goes in as little-endian words, the last one zero-padded.
    #[test]
    fn prefix_words() {
        let frame: Vec<u8> = (1..=40).collect();
        for len in [0, 3, 8, 13, 32, 40] {
            let mut h = TraceHash::default();
            h.record(7, 1, 2, &frame[..len]);
            let mut e = TraceHash::default();
            e.word(7);
            e.word(1 << 40 | 2 << 24 | len as u64);
            for chunk in frame[..len.min(TRACE_PREFIX)].chunks(8) {
                let mut w = [0u8; 8];
                w[..chunk.len()].copy_from_slice(chunk);
                e.word(u64::from_le_bytes(w));
            }
            assert_eq!(h.value(), e.value(), "{len} bytes");
        }
    }
}
