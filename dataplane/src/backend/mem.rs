//! In-process cables for the simulator and tests: [`pair`] makes two [`MemEnd`]s; frames sent
//! on one are received on the other, through a bounded queue ([`QUEUE_FRAMES`] by default).
//!
//! A full queue refuses frames (`send_batch` returns fewer than it was given) and counts them
//! in [`MemEnd::overflows`]. Each end has an eventfd that the other end writes on send, and
//! [`PortBackend::raw_fd`] returns it, so the forwarding loop polls memory ports exactly like
//! socket ports. If one end is dropped, the other's frames are accepted and discarded (an
//! unplugged cable).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};

use bytes::Bytes;

use super::{sys, PortBackend};

/// Default queue depth of each direction of a pair, in frames.
pub const QUEUE_FRAMES: usize = 4096;

static NEXT_PAIR: AtomicU64 = AtomicU64::new(1);

/// One end of an in-memory cable.
#[derive(Debug)]
pub struct MemEnd {
    name: String,
    tx: SyncSender<Bytes>,
    rx: Receiver<Bytes>,
    /// Our eventfd: readable while frames may be waiting for us.
    wake: File,
    /// The other end's eventfd (a duplicate), written when we send.
    peer_wake: File,
    overflows: u64,
    peer_gone: u64,
}

/// Makes a cable of two ends with the default queue depth ([`QUEUE_FRAMES`]).
///
/// # Panics
/// If the process can't create two eventfds (out of file descriptors); see [`try_pair`].
pub fn pair() -> (MemEnd, MemEnd) {
    try_pair(QUEUE_FRAMES).expect("mem::pair: cannot create eventfds")
}

/// Makes a cable of two ends whose queues hold `capacity` frames each way.
pub fn try_pair(capacity: usize) -> io::Result<(MemEnd, MemEnd)> {
    let id = NEXT_PAIR.fetch_add(1, Ordering::Relaxed);
    let (tx_ab, rx_ab) = mpsc::sync_channel(capacity);
    let (tx_ba, rx_ba) = mpsc::sync_channel(capacity);
    let wake_a = File::from(sys::eventfd()?);
    let wake_b = File::from(sys::eventfd()?);
    let a = MemEnd {
        name: format!("mem {id}a -> {id}b"),
        tx: tx_ab,
        rx: rx_ba,
        peer_wake: wake_b.try_clone()?,
        wake: wake_a.try_clone()?,
        overflows: 0,
        peer_gone: 0,
    };
    let b = MemEnd {
        name: format!("mem {id}b -> {id}a"),
        tx: tx_ba,
        rx: rx_ab,
        peer_wake: wake_a,
        wake: wake_b,
        overflows: 0,
        peer_gone: 0,
    };
    Ok((a, b))
}

/// Adds one to an eventfd's counter (wakes its poller). A saturated counter is already awake.
fn notify(fd: &File) {
    let _ = (&*fd).write(&1u64.to_ne_bytes());
}

impl MemEnd {
    /// Frames refused by `send_batch` because the other end's queue was full.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Frames accepted and discarded because the other end has been dropped.
    pub fn peer_gone(&self) -> u64 {
        self.peer_gone
    }
}

impl PortBackend for MemEnd {
    fn recv_batch(&mut self, out: &mut Vec<Bytes>, max: usize) -> io::Result<usize> {
        // Reset the wake-up first: a frame queued after this read writes it again.
        let mut buf = [0u8; 8];
        match (&self.wake).read(&mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let mut got = 0;
        while got < max {
            match self.rx.try_recv() {
                Ok(frame) => {
                    out.push(frame);
                    got += 1;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return Ok(got),
            }
        }
        // Stopped at `max` with frames perhaps left: stay readable.
        notify(&self.wake);
        Ok(got)
    }

    fn send_batch(&mut self, frames: &[Bytes]) -> io::Result<usize> {
        let mut sent = 0;
        for frame in frames {
            match self.tx.try_send(frame.clone()) {
                Ok(()) => sent += 1,
                Err(TrySendError::Full(_)) => {
                    self.overflows += (frames.len() - sent) as u64;
                    break;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.peer_gone += (frames.len() - sent) as u64;
                    return Ok(frames.len());
                }
            }
        }
        if sent > 0 {
            notify(&self.peer_wake);
        }
        Ok(sent)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.wake.as_raw_fd())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
