//! Helpers for the end-to-end tests: the workspace's binaries, a launched stack, and its
//! management API.
#![deny(unsafe_code)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proto::stack::v1 as pb;
use proto::stack::v1::stack_management_client::StackManagementClient;
use sim::launch::default_bin_dir;
use tonic::transport::Channel;

/// The directory holding `dataplaned`, `stackd`, `stackctl` and `stack-sim`, brought up to
/// date first: `cargo test -p stackd-tests` alone does not build other packages' bins, and a
/// stale binary would test old code. Under cargo (`CARGO` set) a `cargo build` of them runs
/// once per test process (a no-op when they are fresh); otherwise they are built only when
/// missing.
pub fn bin_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let dir = default_bin_dir();
    BUILT.get_or_init(|| {
        let missing = ["dataplaned", "stackd", "stackctl", "stack-sim"]
            .iter()
            .any(|b| !dir.join(b).exists());
        let cargo = std::env::var("CARGO").ok();
        if !missing && cargo.is_none() {
            return;
        }
        let mut cmd = std::process::Command::new(cargo.unwrap_or_else(|| "cargo".into()));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "dataplane",
            "-p",
            "controlplane",
            "-p",
            "sim",
            "--bins",
        ]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the daemons failed");
    });
    dir
}

/// A fresh directory for one test's stack under the system temp dir.
pub fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stackd-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create test dir");
    d
}

/// A management client of the stackd at `socket`.
pub async fn stackd(socket: &Path) -> StackManagementClient<Channel> {
    let ch = controlplane::daemon::uds::connect(socket)
        .await
        .unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    StackManagementClient::new(ch)
}

/// Asks `show switch` of every socket until `done` holds for all answers, or panics after
/// `limit` with the last answers.
pub async fn wait_for_stack(
    sockets: &[PathBuf],
    limit: Duration,
    done: impl Fn(&[pb::ShowSwitchResponse]) -> bool,
) -> Vec<pb::ShowSwitchResponse> {
    let deadline = Instant::now() + limit;
    let mut clients = Vec::new();
    for s in sockets {
        clients.push(stackd(s).await);
    }
    loop {
        let mut views = Vec::new();
        for c in &mut clients {
            if let Ok(r) = c.show_switch(pb::ShowSwitchRequest {}).await {
                views.push(r.into_inner());
            }
        }
        if views.len() == sockets.len() && done(&views) {
            return views;
        }
        assert!(
            Instant::now() < deadline,
            "the stack did not get there within {limit:?}: {views:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether every view agrees on one master, one standby, `units` members, all active.
pub fn converged(views: &[pb::ShowSwitchResponse], units: usize) -> bool {
    let Some(first) = views.first() else {
        return false;
    };
    views.iter().all(|v| {
        v.active
            && v.master_mac != 0
            && v.master_mac == first.master_mac
            && v.members.len() == units
            && v.members
                .iter()
                .filter(|m| m.role == pb::Role::Master as i32)
                .count()
                == 1
            && v.members
                .iter()
                .filter(|m| m.role == pb::Role::Standby as i32)
                .count()
                == 1
    })
}

/// The unit number of the member with MAC `mac` in a `show switch` answer (0 if absent).
pub fn unit_of(view: &pb::ShowSwitchResponse, mac: u64) -> u8 {
    view.members
        .iter()
        .find(|m| m.mac == mac)
        .map_or(0, |m| m.unit as u8)
}

/// A host on unit `u`'s first front port: a UDP socket at the host end of its cable,
/// connected to the switch end, reads timing out after 2 s.
pub fn host_on(stack: &sim::launch::Stack, u: u8) -> UdpSocket {
    let port = stack.units[usize::from(u - 1)].front[0];
    let s = UdpSocket::bind(port.host).expect("bind the host end");
    s.connect(port.switch).expect("connect to the switch end");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("read timeout");
    s
}

/// A 64-byte test frame from `src` to `dst` carrying `tag` (EtherType 0x88B6, the local
/// experimental one).
pub fn frame(dst: [u8; 6], src: [u8; 6], tag: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb6]);
    f.push(tag);
    f.resize(64, 0);
    f
}

/// Receives frames on `sock` until one carries `tag` (bounded: 64 frames or the socket's
/// read timeout).
pub fn receive_tagged(sock: &UdpSocket, tag: u8) -> bool {
    let mut buf = [0u8; 2048];
    for _ in 0..64 {
        match sock.recv(&mut buf) {
            Ok(n) if n >= 15 && buf[14] == tag => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// A ring of `units` launched under a fresh test directory `name`, converged (one master, one
/// standby, everyone active): the stack, its stackd sockets and the converged views.
pub async fn converged_ring(
    name: &str,
    units: u8,
) -> (
    sim::launch::Stack,
    Vec<PathBuf>,
    Vec<pb::ShowSwitchResponse>,
) {
    converged_ring_with(name, units, |_| {}).await
}

/// [`converged_ring`] with the launch spec edited by `edit` first (e.g. lossless priorities).
pub async fn converged_ring_with(
    name: &str,
    units: u8,
    edit: impl FnOnce(&mut sim::launch::LaunchSpec),
) -> (
    sim::launch::Stack,
    Vec<PathBuf>,
    Vec<pb::ShowSwitchResponse>,
) {
    let mut spec = sim::launch::LaunchSpec::new(units, sim::launch::Topology::Ring, test_dir(name));
    spec.bin_dir = bin_dir();
    edit(&mut spec);
    let stack = sim::launch::Stack::start(&spec).expect("launch the stack");
    let sockets: Vec<PathBuf> = stack.stackd_sockets();
    let views = wait_for_stack(&sockets, Duration::from_secs(10), |v| {
        converged(v, usize::from(units))
    })
    .await;
    (stack, sockets, views)
}

/// The ports of the dataplane at `socket` on which `priority` is not lossless (PFC on for it,
/// its priority group given thresholds), read through the dataplane's `Read`; `None` when the
/// dataplane cannot be read.
pub async fn ports_not_lossless(socket: &Path, priority: u8) -> Option<Vec<String>> {
    use proto::dataplane::v1 as dp;
    let ch = controlplane::daemon::uds::connect(socket).await.ok()?;
    let read = dp::dataplane_client::DataplaneClient::new(ch)
        .read(dp::ReadRequest::default())
        .await
        .ok()?
        .into_inner();
    Some(
        read.ports
            .iter()
            .filter_map(|p| p.settings.as_ref())
            .filter(|s| {
                let pg = s
                    .priority_to_pg
                    .get(usize::from(priority))
                    .copied()
                    .unwrap_or(u32::from(priority)) as usize;
                s.flow_control != dp::FlowControl::Pfc as i32
                    || s.pfc_enabled & (1 << priority) == 0
                    || s.pgs.get(pg).is_none_or(|g| g.lossless.is_none())
            })
            .map(|s| format!("{:?}", s.port))
            .collect(),
    )
}

/// Waits (up to `within`) until every port of the dataplane at `socket` has `priority`
/// lossless; the ports that still do not, otherwise.
pub async fn wait_lossless(socket: &Path, priority: u8, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let left = ports_not_lossless(socket, priority).await;
        if left.as_ref().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{}: priority {priority} not lossless on {left:?}",
                socket.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
