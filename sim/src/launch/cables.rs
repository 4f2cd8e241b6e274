//! The cable process of a stack that outlives its launcher (`stack-sim up`): `stack-sim
//! cables --dir DIR` owns the [`LinkRelay`]s of every stack link and takes orders over a Unix
//! socket in the stack's directory (`DIR/cables.sock`), so `stack-sim link cut|restore|flap|
//! degrade` can fault the links from any shell.
//!
//! The protocol is one JSON line each way per connection: a [`CableRequest`], then a
//! [`CableResponse`]. Links are named by their index in `stack.json`'s `links`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{read_state, Impairment, LinkRelay, StackLink};

/// Name of the cable process's socket in a stack's directory.
pub const CABLES_SOCKET: &str = "cables.sock";
/// Name of the cable process's log in a stack's directory.
pub const CABLES_LOG: &str = "cables.log";

/// An order to the cable process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum CableRequest {
    /// Every link's state and counters.
    Status,
    /// Sets what happens to frames on these links (indices into `stack.json`'s `links`).
    Set {
        /// The links.
        links: Vec<usize>,
        /// Nothing crosses.
        cut: bool,
        /// Loss probability, 0..=1.
        loss: f64,
        /// Added one-way delay, milliseconds.
        delay_ms: u64,
        /// Restart the links' loss generators with this seed (link `i` gets `seed + i`).
        seed: Option<u64>,
    },
}

/// One link as the cable process sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// Its index in `stack.json`'s `links`.
    pub index: usize,
    /// `1/1/1-2/1/2`.
    pub name: String,
    /// Cut.
    pub cut: bool,
    /// Loss probability.
    pub loss: f64,
    /// Added delay, milliseconds.
    pub delay_ms: u64,
    /// Frames passed on.
    pub forwarded: u64,
    /// Frames dropped by a cut.
    pub cut_drops: u64,
    /// Frames dropped by the loss probability.
    pub loss_drops: u64,
}

impl LinkStatus {
    /// `up`, `cut`, or `degraded (loss 5.0%, delay 10 ms)`.
    pub fn state(&self) -> String {
        if self.cut {
            "cut".into()
        } else if self.loss > 0.0 || self.delay_ms > 0 {
            format!(
                "degraded (loss {:.1}%, delay {} ms)",
                self.loss * 100.0,
                self.delay_ms
            )
        } else {
            "up".into()
        }
    }
}

/// The cable process's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CableResponse {
    /// The links (all of them for `status`, the ones set for `set`).
    Links(Vec<LinkStatus>),
    /// The order was refused.
    Error(String),
}

/// Why the cable process could not be used (client side) or could not run (server side).
#[derive(Debug, Error)]
pub enum CableError {
    /// The stack was launched without a cable process (e.g. by an older `stack-sim`).
    #[error(
        "{0}: this stack has no cable process (only a stack started by `stack-sim up` has one)"
    )]
    NoCableProcess(PathBuf),
    /// Its socket does not answer: the cable process is not running.
    #[error("no cable process answers at {socket}: {source} (it died or was killed: `stack-sim down`, then `up` again)")]
    NotRunning {
        /// The socket.
        socket: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The exchange failed half-way or made no sense.
    #[error("cable process at {socket}: {message}")]
    Protocol {
        /// The socket.
        socket: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The cable process refused the order.
    #[error("cable process: {0}")]
    Refused(String),
    /// The stack's state could not be read (server side).
    #[error(transparent)]
    State(#[from] super::StateError),
    /// A relay or the socket could not be set up (server side).
    #[error(transparent)]
    Launch(#[from] super::LaunchError),
}

/// Sends `req` to the cable process of the stack in `dir` and returns its links.
pub fn call(dir: &Path, req: &CableRequest) -> Result<Vec<LinkStatus>, CableError> {
    let socket = dir.join(CABLES_SOCKET);
    let proto = |message: String| CableError::Protocol {
        socket: socket.clone(),
        message,
    };
    let mut s = UnixStream::connect(&socket).map_err(|source| CableError::NotRunning {
        socket: socket.clone(),
        source,
    })?;
    let limit = Some(Duration::from_secs(2));
    let _ = s.set_read_timeout(limit);
    let _ = s.set_write_timeout(limit);
    let mut line = serde_json::to_string(req).map_err(|e| proto(e.to_string()))?;
    line.push('\n');
    s.write_all(line.as_bytes())
        .map_err(|e| proto(format!("send: {e}")))?;
    let mut answer = String::new();
    BufReader::new(&s)
        .read_line(&mut answer)
        .map_err(|e| proto(format!("no answer: {e}")))?;
    match serde_json::from_str(&answer).map_err(|e| proto(format!("bad answer: {e}")))? {
        CableResponse::Links(l) => Ok(l),
        CableResponse::Error(e) => Err(CableError::Refused(e)),
    }
}

/// The cable process: starts a relay for every relayed link of the stack in `dir` (link `i`
/// seeded `seed + i`), then serves `DIR/cables.sock` until killed.
pub fn serve(dir: &Path, seed: u64) -> Result<(), CableError> {
    let state = read_state(dir)?;
    let mut relays: Vec<(usize, LinkRelay)> = Vec::new();
    for (i, l) in state.links.iter().enumerate() {
        if l.relay.is_some() {
            relays.push((i, LinkRelay::start(l, seed.wrapping_add(i as u64))?));
        }
    }
    let socket = dir.join(CABLES_SOCKET);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).map_err(|source| super::LaunchError::Io {
        what: format!("bind {}", socket.display()),
        source,
    })?;
    tracing::info!(links = relays.len(), socket = %socket.display(), "cable process serving");
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        if BufReader::new(&conn).read_line(&mut line).is_err() {
            continue;
        }
        let answer = match serde_json::from_str::<CableRequest>(&line) {
            Ok(req) => handle(&state.links, &relays, req),
            Err(e) => CableResponse::Error(format!("bad request: {e}")),
        };
        if let Ok(mut text) = serde_json::to_string(&answer) {
            text.push('\n');
            let _ = (&conn).write_all(text.as_bytes());
        }
    }
    Ok(())
}

fn status(i: usize, r: &LinkRelay) -> LinkStatus {
    let imp = r.impairment();
    let c = r.counters();
    LinkStatus {
        index: i,
        name: r.name().to_string(),
        cut: imp.cut,
        loss: imp.loss,
        delay_ms: imp.delay.as_millis() as u64,
        forwarded: c.forwarded,
        cut_drops: c.cut_drops,
        loss_drops: c.loss_drops,
    }
}

/// Carries out one order (the sans-IO part of the cable process).
fn handle(links: &[StackLink], relays: &[(usize, LinkRelay)], req: CableRequest) -> CableResponse {
    match req {
        CableRequest::Status => {
            CableResponse::Links(relays.iter().map(|(i, r)| status(*i, r)).collect())
        }
        CableRequest::Set {
            links: chosen,
            cut,
            loss,
            delay_ms,
            seed,
        } => {
            if !(0.0..=1.0).contains(&loss) {
                return CableResponse::Error(format!("loss {loss}: expected 0..=1"));
            }
            let mut out = Vec::new();
            for i in &chosen {
                let Some((_, r)) = relays.iter().find(|(j, _)| j == i) else {
                    return CableResponse::Error(format!(
                        "no relayed link {i} (the stack has {} links)",
                        links.len()
                    ));
                };
                if let Some(s) = seed {
                    r.reseed(s.wrapping_add(*i as u64));
                }
                r.set(Impairment {
                    cut,
                    loss,
                    delay: Duration::from_millis(delay_ms),
                });
                out.push(status(*i, r));
            }
            CableResponse::Links(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_round_trip_as_json_lines() {
        let req = CableRequest::Set {
            links: vec![0, 2],
            cut: false,
            loss: 0.05,
            delay_ms: 10,
            seed: Some(7),
        };
        let text = serde_json::to_string(&req).unwrap();
        assert!(text.contains("\"op\":\"set\""), "{text}");
        assert_eq!(serde_json::from_str::<CableRequest>(&text).unwrap(), req);
        let s = LinkStatus {
            index: 0,
            name: "1/1/1-2/1/2".into(),
            cut: false,
            loss: 0.05,
            delay_ms: 10,
            forwarded: 1,
            cut_drops: 0,
            loss_drops: 0,
        };
        assert_eq!(s.state(), "degraded (loss 5.0%, delay 10 ms)");
        let a = CableResponse::Links(vec![s]);
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<CableResponse>(&text).unwrap(), a);
    }

    #[test]
    fn orders_set_the_named_relays_and_bad_ones_are_refused() {
        use crate::launch::LinkEnd;
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        let end = |unit| LinkEnd {
            unit,
            port: 1,
            addr: any,
        };
        let links = vec![
            StackLink {
                a: end(1),
                b: end(2),
                relay: Some((any, any)),
            },
            StackLink {
                a: end(2),
                b: end(3),
                relay: None,
            },
        ];
        let relays = vec![(0, LinkRelay::start(&links[0], 1).unwrap())];
        let set = |links: Vec<usize>, loss: f64| CableRequest::Set {
            links,
            cut: false,
            loss,
            delay_ms: 5,
            seed: Some(3),
        };
        match handle(&links, &relays, set(vec![0], 0.5)) {
            CableResponse::Links(l) => {
                assert_eq!(l.len(), 1);
                assert_eq!(l[0].state(), "degraded (loss 50.0%, delay 5 ms)");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(relays[0].1.impairment().delay, Duration::from_millis(5));
        let refused = |r| match r {
            CableResponse::Error(e) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(handle(&links, &relays, set(vec![1], 0.0))),
            "no relayed link 1 (the stack has 2 links)"
        );
        assert_eq!(
            refused(handle(&links, &relays, set(vec![0], 1.5))),
            "loss 1.5: expected 0..=1"
        );
        match handle(&links, &relays, CableRequest::Status) {
            CableResponse::Links(l) => assert_eq!(l[0].index, 0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_cable_process_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("stack-sim-cables-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = call(&dir, &CableRequest::Status).unwrap_err();
        assert!(matches!(e, CableError::NotRunning { .. }), "{e}");
        assert!(e.to_string().contains("no cable process answers at"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
