//! `dataplaned` on real Linux interfaces (root only: network namespaces, veth pairs, AF_PACKET).
//!
//! Two host namespaces h1 and h2, each with a veth whose other end stays in the root namespace
//! as an `afpacket` port of one dataplaned (0/1 and 0/2). Addresses from 198.18.0.0/15 (RFC
//! 2544 benchmarking). IPv6 is off on every veth so the links stay quiet. Everything the test
//! creates has a unique name and is deleted on drop.
//!
//! * ping between the namespaces through the daemon (ARP and ICMP forwarded);
//! * PFC sent on the wire when a lossless PG crosses XOFF, dissected by tshark;
//! * PFC received pauses the priority's egress queue while other priorities flow; held
//!   longer than the PFC watchdog's detection time, the queue is declared stormed and dropped.
//!
//! Without root these tests print why and pass. Needs `ip` (iproute2), `python3`, and `tshark`
//! for the PFC-on-the-wire test.

mod daemon;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use daemon::*;
use proto::dataplane::v1 as pb;

/// False (after printing why) when these tests cannot run here.
fn can_run(needs: &[&str]) -> bool {
    if !dataplane::backend::running_as_root() {
        println!("skipped: needs root (network namespaces, veth, CAP_NET_RAW)");
        return false;
    }
    for tool in needs {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "running as root but `{tool}` is missing (ip: iproute2; tshark: tshark; python3)"
        );
    }
    true
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

static NS_SEQ: AtomicU32 = AtomicU32::new(0);

/// One test at a time: they are timing-sensitive (the PFC watchdog's 200 ms) and CPU-bound.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A host namespace with a veth into it; the root end (`port_if`) is for dataplaned.
struct HostNs {
    ns: String,
    host_if: String,
    port_if: String,
    mac: String,
}

impl HostNs {
    fn new(name: &str, addr: &str) -> HostNs {
        let n = NS_SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let ns = format!("stk-{pid}-{n}-{name}");
        // Interface names: at most 15 bytes.
        let tag = format!("{:x}{n}", pid % 0xfffff);
        let h = HostNs {
            ns,
            host_if: format!("sh{tag}"),
            port_if: format!("sp{tag}"),
            mac: String::new(),
        };
        run("ip", &["netns", "add", &h.ns]);
        let mut h = h;
        run(
            "ip",
            &[
                "link", "add", &h.port_if, "type", "veth", "peer", "name", &h.host_if, "netns",
                &h.ns,
            ],
        );
        run(
            "sysctl",
            &[
                "-qw",
                &format!("net.ipv6.conf.{}.disable_ipv6=1", h.port_if),
            ],
        );
        h.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", h.host_if),
        ]);
        run("ip", &["link", "set", &h.port_if, "up"]);
        run("ip", &["-n", &h.ns, "link", "set", "lo", "up"]);
        run("ip", &["-n", &h.ns, "addr", "add", addr, "dev", &h.host_if]);
        run("ip", &["-n", &h.ns, "link", "set", &h.host_if, "up"]);
        h.mac = std::fs::read_to_string(format!("/sys/class/net/{}/address", h.port_if))
            .map(|_| ())
            .and_then(|_| {
                let out = Command::new("ip")
                    .args(["-n", &h.ns, "-o", "link", "show", &h.host_if])
                    .output()?;
                let s = String::from_utf8_lossy(&out.stdout).into_owned();
                let mac = s
                    .split_whitespace()
                    .skip_while(|w| *w != "link/ether")
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                Ok(mac)
            })
            .unwrap_or_default();
        h
    }

    fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.ns];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).args(args);
        c
    }

    fn port_spec(&self, port: &str, speed: &str) -> String {
        format!("{port},{speed},afpacket,{}", self.port_if)
    }
}

impl Drop for HostNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.port_if])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// Waits (bounded) until the daemon's Read shows `p` operationally up.
async fn port_up(c: &mut Client, d: &Daemon, p: pb::PortRef) {
    let c = c.clone();
    poll_until(WAIT, || {
        let mut c = c.clone();
        async move {
            port_state(&read(&mut c, false).await, p)
                .oper_up
                .then_some(())
        }
    })
    .await
    .unwrap_or_else(|| d.fail(format!("port {p:?} not up")));
}

/// Hosts h1 and h2 in namespaces of their own, on ports 0/1 (1G) and 0/2 (`speed2`) of one
/// dataplaned (unit 1).
fn two_hosts(speed2: &str) -> (HostNs, HostNs, Daemon) {
    let h1 = HostNs::new("h1", "198.18.0.1/24");
    let h2 = HostNs::new("h2", "198.18.0.2/24");
    let d = Daemon::start(
        1,
        &[h1.port_spec("0/1", "1G"), h2.port_spec("0/2", speed2)],
        &[],
    );
    (h1, h2, d)
}

/// Waits until both host ports are up.
async fn both_up(c: &mut Client, d: &Daemon) {
    port_up(c, d, port(0, 1)).await;
    port_up(c, d, port(0, 2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_between_namespaces_through_dataplaned() {
    if !can_run(&["ip", "ping"]) {
        return;
    }
    let _serial = SERIAL.lock().await;
    let (h1, _h2, d) = two_hosts("1G");
    let mut c = d.client().await;
    both_up(&mut c, &d).await;
    let out = h1
        .command(&["ping", "-c", "3", "-W", "2", "-i", "0.2", "198.18.0.2"])
        .output()
        .expect("ping");
    if !out.status.success() {
        d.fail(format!(
            "ping h1 → h2 through dataplaned failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let r = read(&mut c, true).await;
    assert!(
        r.fdb.len() >= 2,
        "both hosts learned (ARP and ICMP went through): {:?}",
        r.fdb
    );
    let k = counters(&mut c).await;
    for p in [1, 2] {
        let pc = port_counters(&k, port(0, p));
        assert!(pc.rx_frames >= 4 && pc.tx_frames >= 4, "{pc:?}");
    }
}

/// Port settings for a PFC port: flow control PFC on priority 3, untagged frames priority
/// `default_priority`, PG 3 lossless with small thresholds; `trunk`: VLAN 10 tagged besides
/// native VLAN 1.
fn pfc_settings(base: pb::PortSettings, default_priority: u32, trunk: bool) -> pb::PortSettings {
    let mut s = base;
    s.flow_control = pb::FlowControl::Pfc as i32;
    s.pfc_enabled = 1 << 3;
    s.default_priority = default_priority;
    s.priority_to_pg[3] = 3;
    s.pgs[3] = pb::PgProfile {
        reserved_bytes: 0,
        shared_limit: Some(pb::pg_profile::SharedLimit::StaticBytes(20_000)),
        lossless: Some(pb::LosslessThresholds {
            xoff_bytes: 20_000,
            xon_bytes: 10_000,
            headroom_bytes: 20_000,
        }),
    };
    if trunk {
        s.vlan_mode = Some(pb::port_settings::VlanMode::Trunk(pb::TrunkVlans {
            native_vid: 1,
            allowed: vec![1, 10],
        }));
    }
    s
}

/// A python3 program sending raw frames out of `ifname`: `frames` is a Python expression for a
/// list of `bytes`.
fn py_send(ifname: &str, frames: &str) -> String {
    format!(
        "import socket\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind(('{ifname}',0))\n\
         for f in {frames}:\n    s.send(f)\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pfc_on_the_wire_when_a_lossless_pg_crosses_xoff() {
    if !can_run(&["ip", "python3", "tshark"]) {
        return;
    }
    let _serial = SERIAL.lock().await;
    // 0/2 at 10M: what comes in at veth speed on 0/1 queues up behind it.
    let (h1, _h2, d) = two_hosts("10M");
    let mut c = d.client().await;
    let _s = Session::attach(&mut c, 1).await.expect("attach");
    let r = read(&mut c, false).await;
    let base = port_state(&r, port(0, 1)).settings.expect("settings");
    write(
        &mut c,
        1,
        vec![set(Entity::Port(pfc_settings(base, 3, false)))],
    )
    .await
    .unwrap_or_else(|e| d.fail(format!("PFC settings: {e}")));
    both_up(&mut c, &d).await;

    // tshark in h1, waiting for the first MAC control frame.
    let mut tshark = h1
        .command(&[
            "tshark",
            "-l",
            "-i",
            &h1.host_if,
            "-f",
            "ether proto 0x8808",
            "-c",
            "1",
            "-a",
            "duration:10",
            "-T",
            "fields",
            "-E",
            "separator=,",
            "-e",
            "macc.opcode",
            "-e",
            "macc.cbfc.enbv",
            "-e",
            "macc.cbfc.enbv.c3",
            "-e",
            "macc.cbfc.pause_time.c3",
            "-e",
            "eth.dst",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tshark");
    // Bounded wait for "Capturing on ..." on its stderr.
    let stderr = tshark.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut tshark_err = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if l.contains("Capturing on") => break,
            Ok(l) => tshark_err.push(l),
            Err(_) => {
                let _ = tshark.kill();
                d.fail(format!("tshark did not start capturing: {tshark_err:?}"));
            }
        }
    }

    // A burst of 1400-byte unknown-unicast frames from h1 (priority 3 by default): 0/2 drains
    // 1.25 MB/s, so PG 3 of 0/1 crosses XOFF (20 kB) within a few frames.
    let frames = format!(
        "[bytes.fromhex('020000000099{}88b6')+bytes([i%256])*1386 for i in range(100)]",
        h1.mac.replace(':', "")
    );
    h1.exec(&["python3", "-c", &py_send(&h1.host_if, &frames)]);

    let out = tshark.wait_with_output().expect("tshark output");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let k = port_counters(&counters(&mut c).await, port(0, 1));
    if line.is_empty() {
        d.fail(format!(
            "tshark saw no MAC control frame in h1; 0/1 counters: pfc_tx {:?} pgs[3] {:?}",
            k.pfc_tx,
            k.pgs.get(3)
        ));
    }
    println!("tshark: {line}");
    let f: Vec<&str> = line.split(',').collect();
    assert_eq!(f.len(), 5, "{line}");
    assert_eq!(
        f[0], "0x0101",
        "not Class Based Flow Control (opcode): {line}"
    );
    assert_eq!(f[1], "0x0008", "enable vector: only priority 3: {line}");
    assert!(matches!(f[2], "1" | "True"), "enable bit C3: {line}");
    assert_eq!(f[3], "65535", "pause quanta of priority 3: {line}");
    assert_eq!(f[4], "01:80:c2:00:00:01", "{line}");
    assert!(k.pfc_tx[3] >= 1, "{k:?}");
    assert!(k.pgs[3].xoff_events >= 1, "{:?}", k.pgs[3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_pfc_pauses_its_priority_only() {
    if !can_run(&["ip", "python3"]) {
        return;
    }
    let _serial = SERIAL.lock().await;
    let (h1, h2, d) = two_hosts("10M");
    let mut c = d.client().await;
    let mut s = Session::attach(&mut c, 1).await.expect("attach");
    let r = read(&mut c, false).await;
    let s1 = pfc_settings(port_state(&r, port(0, 1)).settings.unwrap(), 0, true);
    let s2 = pfc_settings(port_state(&r, port(0, 2)).settings.unwrap(), 0, true);
    let tc3 = s2.priority_to_tc[3] as usize;
    let tc0 = s2.priority_to_tc[0] as usize;
    assert_ne!(
        tc3, tc0,
        "priorities 0 and 3 share a traffic class by default"
    );
    write(
        &mut c,
        1,
        vec![set(Entity::Port(s1)), set(Entity::Port(s2))],
    )
    .await
    .unwrap_or_else(|e| d.fail(format!("PFC settings: {e}")));
    both_up(&mut c, &d).await;

    // h2: pause priority 3 (65535 quanta: 3.4 s at 10M), listen 1 s, resume (quanta 0), listen
    // 0.3 s more; prints "paused" when the pause is out, then each test frame as
    // "phase,pcp,seq".
    let h2mac = h2.mac.replace(':', "");
    let script = format!(
        r#"
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind(('{ifname}', 0))
SOL_PACKET = 263
s.setsockopt(SOL_PACKET, 8, 1)  # PACKET_AUXDATA: the stripped VLAN tag
def pfc(q):
    times = [0]*8; times[3] = q
    f = bytes.fromhex('0180c2000001{h2mac}8808') + struct.pack('!HH8H', 0x0101, 0x0008, *times)
    return f + bytes(60 - len(f))
def listen(phase, secs):
    end = time.time() + secs
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            data, anc, _, _ = s.recvmsg(2048, 256)
        except socket.timeout:
            continue
        pcp = None
        for lvl, typ, d in anc:
            if lvl == SOL_PACKET and typ == 8 and len(d) >= 20:
                tci = struct.unpack_from('=H', d, 16)[0]
                pcp = tci >> 13
        if len(data) >= 20 and data[12:14] == b'\x88\xb6' and data[14:16] == b'ST':
            print(f'{{phase}},{{pcp}},{{data[16]}}', flush=True)
s.send(pfc(65535))
print('paused', flush=True)
listen(1, 1.0)
s.send(pfc(0))
listen(2, 0.3)
"#,
        ifname = h2.host_if
    );
    // h1's sender starts now and waits for a line on stdin: the frames must follow the pause
    // by milliseconds, well within the PFC watchdog's 200 ms.
    let h1mac = h1.mac.replace(':', "");
    let frames = format!(
        "[bytes.fromhex('{h2mac}{h1mac}8100')+bytes([p<<5,10])+b'\\x88\\xb6ST'+bytes([i])+bytes(100) \
         for i in range(10) for p in ((3,) if i%2==0 else (0,))]"
    );
    let mut sender = h1
        .command(&[
            "python3",
            "-c",
            &format!(
                "import sys\nsys.stdin.readline()\n{}",
                py_send(&h1.host_if, &frames)
            ),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 in h1");
    let mut listener = h2
        .command(&["python3", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 in h2");
    let stdout = listener.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(l) if l == "paused" => {}
        other => {
            let _ = listener.kill();
            let mut err = String::new();
            if let Some(mut e) = listener.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            d.fail(format!(
                "h2's script did not send its pause: {other:?}\n{err}"
            ))
        }
    }
    // h1 sends VLAN 10 frames, PCP 3 and PCP 0, right behind the pause.
    {
        use std::io::Write;
        let mut stdin = sender.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("start h1's sender");
    }
    let sent = sender.wait().expect("h1's sender");
    assert!(sent.success(), "h1's sender failed");
    let mut cc = c.clone();
    poll_until(WAIT, || {
        let mut cc = cc.clone();
        async move {
            let k = port_counters(&counters(&mut cc).await, port(0, 2));
            (k.pfc_rx[3] >= 1).then_some(())
        }
    })
    .await
    .unwrap_or_else(|| d.fail("pfc_rx[3] of 0/2 did not count h2's pause"));
    // While paused: priority 3's queue on 0/2 holds frames.
    let depth = poll_until(WAIT, || {
        let mut cc = cc.clone();
        async move {
            let k = port_counters(&counters(&mut cc).await, port(0, 2));
            (k.queues[tc3].depth_bytes > 0).then_some(k.queues[tc3].depth_bytes)
        }
    })
    .await
    .unwrap_or_else(|| d.fail("priority 3's queue on 0/2 did not fill while paused"));
    let _ = &mut cc;

    let status = listener.wait().expect("h2's script");
    let lines: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "h2's script failed: {lines:?}");
    let parse = |l: &String| -> (u32, u32, u32) {
        let v: Vec<u32> = l.split(',').map(|x| x.parse().unwrap_or(99)).collect();
        (v[0], v[1], v[2])
    };
    let got: Vec<(u32, u32, u32)> = lines.iter().map(parse).collect();
    let k = port_counters(&counters(&mut c).await, port(0, 2));
    println!(
        "paused queue depth {depth} B; h2 got (phase, pcp, seq): {got:?}; 0/2 after: pfc_rx {:?} \
         paused_ns {:?} queue {tc3}: {:?}",
        k.pfc_rx, k.pfc_paused_ns, k.queues[tc3]
    );
    let in_phase = |ph: u32, pcp: u32| got.iter().filter(|g| g.0 == ph && g.1 == pcp).count();
    assert_eq!(
        in_phase(1, 0),
        5,
        "priority 0 must flow during the pause: {got:?}"
    );
    assert_eq!(
        in_phase(1, 3),
        0,
        "priority 3 must be held during the pause: {got:?}"
    );
    // Paused for 1 s, longer than the PFC watchdog's detection time (200 ms, action drop):
    // the storm is detected and the held frames are discarded, not sent after the resume.
    assert_eq!(
        in_phase(2, 3),
        0,
        "held frames of a stormed queue must be dropped: {got:?}"
    );
    assert_eq!(k.queues[tc3].discarded_frames, 5, "{:?}", k.queues[tc3]);
    assert!(k.queues[tc3].storms >= 1, "{:?}", k.queues[tc3]);
    let storm = s
        .wait_for("PfcStorm detected on 0/2", WAIT, |m| match m {
            pb::session_response::Msg::Event(pb::Event {
                kind: Some(pb::event::Kind::PfcStorm(e)),
            }) if e.detected => Some(*e),
            _ => None,
        })
        .await
        .unwrap_or_else(|e| d.fail(e));
    assert_eq!((storm.port, storm.tc as usize), (Some(port(0, 2)), tc3));
    assert!(k.pfc_rx[3] >= 2, "pause and resume counted: {:?}", k.pfc_rx);
    assert!(k.pfc_paused_ns[3] > 0, "{:?}", k.pfc_paused_ns);
}
