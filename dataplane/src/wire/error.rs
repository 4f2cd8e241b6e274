//! The error type shared by every parser and emitter in [`crate::wire`].

/// Why a frame could not be parsed or emitted.
///
/// Every message names the header, the field or offset, and what was needed
/// versus what was found, so a log line alone is enough to see what is wrong.
/// Offsets are relative to the start of the buffer handed to the function
/// (the frame's first byte, or the MAC Control payload's first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ends before the header (or field) being parsed is complete.
    #[error("truncated {header}: need at least {needed} bytes, got {got}")]
    Truncated {
        /// Which header or field was being read, with its byte range.
        header: &'static str,
        /// Minimum input length needed to read it.
        needed: usize,
        /// Actual input length.
        got: usize,
    },
    /// The output buffer given to an `emit` function is too small.
    #[error("output buffer too small for {header}: need {needed} bytes, got {got}")]
    BufferTooSmall {
        /// Which header was being written.
        header: &'static str,
        /// Bytes the header needs.
        needed: usize,
        /// Length of the buffer provided.
        got: usize,
    },
    /// The EtherType at `offset` is not the one this parser handles
    /// (for example a frame handed to the stack-header parser is not 0x88B5).
    #[error("{header}: EtherType at offset {offset} is {got:#06x}, expected {expected:#06x}")]
    UnexpectedEtherType {
        /// Which header was being parsed.
        header: &'static str,
        /// Offset of the EtherType field.
        offset: usize,
        /// The EtherType this parser requires.
        expected: u16,
        /// The EtherType found.
        got: u16,
    },
    /// The MAC Control opcode (payload offset 0) is neither PAUSE (0x0001)
    /// nor PFC (0x0101). Other opcodes (e.g. EPON's MPCP) are not ours to
    /// interpret, so the caller should drop or count such frames.
    #[error(
        "MAC Control payload offset 0: opcode {0:#06x} is not supported \
         (expected PAUSE 0x0001 or PFC 0x0101)"
    )]
    UnsupportedMacControlOpcode(u16),
    /// A PFC priority index outside `0..=7` was given to a view accessor.
    #[error("PFC priority {0} out of range: must be 0..=7")]
    InvalidPfcPriority(u8),
    /// The stack header's version nibble (frame offset 14, high nibble) is
    /// not [`STACK_VERSION`](crate::wire::STACK_VERSION). A different version may lay
    /// the header out differently, so nothing else in it can be trusted.
    #[error("stack header byte 0 (frame offset 14): version {0}, expected 1")]
    UnsupportedStackVersion(u8),
    /// The stack header's kind nibble (frame offset 14, low nibble) is not
    /// 0 (data), 1 (hello) or 2 (control).
    #[error(
        "stack header byte 0 (frame offset 14): unknown frame kind {0} \
         (expected 0 = data, 1 = hello, 2 = control)"
    )]
    UnknownStackFrameKind(u8),
    /// The stack header's priority byte (frame offset 20) is above 7, or a
    /// [`StackHeaderRepr`](crate::wire::StackHeaderRepr) to emit has a priority above 7.
    #[error("stack header byte 6 (frame offset 20): priority {0} out of range 0..=7")]
    InvalidStackPriority(u8),
    /// A [`VlanTag`](crate::wire::VlanTag) to emit does not fit the 16-bit
    /// TCI: PCP must be 0..=7 and VID 0..=4095.
    #[error("VLAN tag in {header}: PCP {pcp} (max 7) / VID {vid} (max 4095) does not fit the TCI")]
    InvalidVlanTag {
        /// Which header the tag was being written into.
        header: &'static str,
        /// The priority code point given.
        pcp: u8,
        /// The VLAN identifier given.
        vid: u16,
    },
    /// An untagged [`L2Header`](crate::wire::L2Header) whose EtherType is
    /// 0x8100 cannot be emitted: a parser would read the following bytes as
    /// an 802.1Q tag. Set `vlan` instead.
    #[error(
        "L2 header EtherType (offset 12): 0x8100 without a VLAN tag is ambiguous; \
         set `vlan` instead"
    )]
    UntaggedVlanEtherType,
}
