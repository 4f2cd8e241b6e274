//! `stack-sim` as an operator runs it: `up` leaves a converged stack running after it exits,
//! `status` shows it, `link` faults its stack links from another shell, `down` removes every
//! process and socket (also after a crash); every
//! shipped scenario passes on the udp backend; bad scenario files and arguments get errors
//! naming the file, line and what was expected.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sim::launch::running_as_root;
use stackd_tests::{bin_dir, frame, receive_tagged, test_dir};

fn stack_sim(args: &[&str]) -> Output {
    Command::new(bin_dir().join("stack-sim"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run stack-sim")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The pids recorded in a stack directory's pid file.
fn pids(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect()
}

fn running(pid: u32) -> bool {
    // A zombie is not running (its parent, stack-sim, has exited: init reaps it).
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Every process whose command line mentions `dir`.
fn processes_in(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .filter(|pid| running(*pid))
        .collect()
}

/// The tests that run stacks take turns: a 2-core CI machine running six stacks' daemons at
/// once starves their control planes, which is not what these tests are about.
static STACKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_stack_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    STACKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes whatever a failed test left running.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = stack_sim(&["down", "--dir", &self.0.display().to_string()]);
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn up_status_down_leave_nothing_behind() {
    let _turn = one_stack_at_a_time();
    let dir = test_dir("up-down").join("stack");
    let _cleanup = Cleanup(dir.clone());
    let d = dir.display().to_string();
    let bins = bin_dir().display().to_string();
    let up = stack_sim(&[
        "up",
        "--units",
        "3",
        "--hosts-per-unit",
        "2",
        "--lossless",
        "3",
        "--dir",
        &d,
        "--bin-dir",
        &bins,
    ]);
    assert!(up.status.success(), "{}", text(&up));
    // `--lossless 3` is stack configuration: every unit's stackd programs it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for u in 1..=3 {
        let socket = dir.join(format!("unit{u}/dataplane.sock"));
        rt.block_on(stackd_tests::wait_lossless(
            &socket,
            3,
            std::time::Duration::from_secs(5),
        ))
        .unwrap();
    }
    let out = String::from_utf8_lossy(&up.stdout);
    assert_eq!(out.matches("Master").count(), 1, "{out}");
    assert_eq!(out.matches("Standby").count(), 1, "{out}");
    assert!(dir.join("stack.json").exists());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stack.json")).unwrap()).unwrap();
    assert_eq!(state["units"].as_array().map(Vec::len), Some(3));
    assert_eq!(state["units"][0]["front"].as_array().map(Vec::len), Some(2));

    // stack-sim has exited; its six daemons and its cable process run on.
    let recorded = pids(&dir);
    assert_eq!(recorded.len(), 7, "{recorded:?}");
    assert!(recorded.iter().all(|p| running(*p)), "{recorded:?}");

    let status = stack_sim(&["status", "--dir", &d]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("3 of 3 units answer; converged"),
        "{}",
        text(&status)
    );

    link_faults_from_another_shell(&dir, &state);

    // A second `up` on the same directory is refused while the stack runs.
    let again = stack_sim(&["up", "--units", "2", "--dir", &d, "--bin-dir", &bins]);
    assert!(!again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("already running"), "{}", text(&again));

    // Faults from another shell: unit 3's stackd killed and started again.
    let kill = stack_sim(&["kill", "--unit", "3", "--daemon", "stackd", "--dir", &d]);
    assert!(kill.status.success(), "{}", text(&kill));
    assert!(
        text(&kill).contains("killed unit 3 stackd"),
        "{}",
        text(&kill)
    );
    assert_eq!(pids(&dir).len(), 6);
    let start = stack_sim(&["start", "--unit", "3", "--dir", &d]);
    assert!(start.status.success(), "{}", text(&start));
    assert!(
        text(&start).contains("started unit 3 stackd"),
        "{}",
        text(&start)
    );
    assert!(
        text(&start).contains("unit 3 dataplaned is running"),
        "{}",
        text(&start)
    );
    let recorded = pids(&dir);
    assert_eq!(recorded.len(), 7, "{recorded:?}");

    // A daemon and the cable process that died on their own (a crash) are no obstacle to
    // `down`; meanwhile `link` says the cable process is gone.
    let cables = cable_pid(&dir);
    for victim in [recorded[0], cables] {
        let _ = Command::new("kill")
            .args(["-9", &victim.to_string()])
            .status();
    }
    let wait = std::time::Instant::now();
    while running(cables) && wait.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let cut = stack_sim(&["link", "cut", "--link", "1-2", "--dir", &d]);
    assert!(!cut.status.success(), "{}", text(&cut));
    assert!(
        text(&cut).contains("no cable process answers at"),
        "{}",
        text(&cut)
    );

    let down = stack_sim(&["down", "--dir", &d]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(recorded.iter().all(|p| !running(*p)), "{}", text(&down));
    assert!(
        processes_in(&dir).is_empty(),
        "left behind: {:?}",
        processes_in(&dir)
    );
    assert!(
        !dir.exists(),
        "{} (and its sockets) still exists",
        dir.display()
    );

    // Nothing left: `down` again is nothing to do.
    let down = stack_sim(&["down", "--dir", &d]);
    assert!(down.status.success(), "{}", text(&down));
    let cut = stack_sim(&["link", "cut", "--link", "1-2", "--dir", &d]);
    assert!(text(&cut).contains("no stack here"), "{}", text(&cut));
}

/// The pid of the stack's cable process (`0 stack-sim PID` in the pid file).
fn cable_pid(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("pids"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("0 stack-sim "))
        .and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
        .expect("the cable process in the pid file")
}

/// `stackctl show switch stack-ports` as served by unit `unit` of the stack in `dir`.
fn stack_ports(dir: &Path, unit: u8) -> String {
    let sock = dir.join(format!("unit{unit}/stackd.sock"));
    let o = Command::new(bin_dir().join("stackctl"))
        .arg("--socket")
        .arg(&sock)
        .args(["show", "switch", "stack-ports"])
        .output()
        .expect("run stackctl");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits (bounded) until unit 1 sees its stack port 1/1 (the link to unit 2) `state`.
fn await_port_1_1(dir: &Path, state: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let t = stack_ports(dir, 1);
        let seen = t.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 4 && f[0] == "1" && f[2] == "1/1" && f[3] == state
        });
        if seen || std::time::Instant::now() >= deadline {
            assert!(seen, "unit 1's 1/1 never {state}:\n{t}");
            return t;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A host at the far end of unit `u`'s first front port, as recorded in `stack.json`.
fn host(state: &serde_json::Value, u: usize) -> std::net::UdpSocket {
    let port = &state["units"][u - 1]["front"][0];
    let addr = |k: &str| -> std::net::SocketAddr { port[k].as_str().unwrap().parse().unwrap() };
    let s = std::net::UdpSocket::bind(addr("host")).expect("bind the host end");
    s.connect(addr("switch")).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    s
}

/// Sends tagged frames from `a` until one reaches `b` (bounded).
fn delivered(
    a: &std::net::UdpSocket,
    b: &std::net::UdpSocket,
    dst: [u8; 6],
    src: [u8; 6],
    first: u8,
) -> bool {
    (first..first + 30).any(|tag| {
        a.send(&frame(dst, src, tag)).unwrap();
        receive_tagged(b, tag)
    })
}

/// On a ring started by `up`: the link between units 1 and 2 is cut from another shell; the
/// stack sees it down and re-routes, so a frame from unit 1's host still reaches unit 2's
/// (through unit 3); `status` shows the cut; a restore brings the link back; bad link names
/// get clear errors.
fn link_faults_from_another_shell(dir: &Path, state: &serde_json::Value) {
    let d = dir.display().to_string();
    let (h1, h2) = (host(state, 1), host(state, 2));
    let (m1, m2) = ([2, 0, 0, 0, 0, 0x11], [2, 0, 0, 0, 0, 0x12]);
    assert!(
        delivered(&h2, &h1, [0xff; 6], m2, 1),
        "no forwarding before the cut"
    );

    let cut = stack_sim(&["link", "cut", "--link", "1-2", "--dir", &d]);
    assert!(cut.status.success(), "{}", text(&cut));
    assert!(text(&cut).contains("1/1/1-2/1/2): cut"), "{}", text(&cut));
    await_port_1_1(dir, "down");
    assert!(
        delivered(&h1, &h2, m2, m1, 40),
        "no frame from unit 1 to unit 2 around the cut"
    );
    let status = stack_sim(&["status", "--dir", &d]);
    let st = text(&status);
    assert!(
        st.lines()
            .any(|l| l.contains("1/1/1-2/1/2") && l.contains(" cut ")),
        "{st}"
    );

    let restore = stack_sim(&["link", "restore", "--link", "1-2", "--dir", &d]);
    assert!(restore.status.success(), "{}", text(&restore));
    await_port_1_1(dir, "up");
    assert!(
        delivered(&h1, &h2, m2, m1, 80),
        "no forwarding after the restore"
    );

    let degrade = stack_sim(&[
        "link",
        "degrade",
        "--link",
        "2-3/1",
        "--loss",
        "5%",
        "--delay-ms",
        "2",
        "--seed",
        "9",
        "--dir",
        &d,
    ]);
    assert!(
        text(&degrade).contains("degraded (loss 5.0%, delay 2 ms)"),
        "{}",
        text(&degrade)
    );
    let restore = stack_sim(&["link", "restore", "--link", "2-3", "--dir", &d]);
    assert!(restore.status.success(), "{}", text(&restore));

    for (bad, want) in [
        ("1-5", "no stack link between units 1 and 5"),
        ("1-2/2", "units 1 and 2 have 1 link(s)"),
        ("1-x", "expected UNIT-UNIT or UNIT-UNIT/INDEX"),
    ] {
        let o = stack_sim(&["link", "cut", "--link", bad, "--dir", &d]);
        assert!(!o.status.success(), "{bad}: {}", text(&o));
        assert!(text(&o).contains(want), "{bad}: {}", text(&o));
    }
}

#[test]
fn down_refuses_a_directory_it_did_not_make() {
    let dir = test_dir("foreign");
    std::fs::write(dir.join("precious.txt"), "keep me").unwrap();
    let o = stack_sim(&["down", "--dir", &dir.display().to_string()]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("not a stack-sim directory"),
        "{}",
        text(&o)
    );
    assert!(dir.join("precious.txt").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_name_the_argument() {
    let o = stack_sim(&["up", "--units", "7"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--units"), "{}", text(&o));
    let o = stack_sim(&["up", "--topology", "star"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--topology"), "{}", text(&o));
    for (bad, says) in [
        ("1-1", "two different units"),
        ("1-9", "'9'"),
        ("12", "e.g. 1-2"),
    ] {
        let o = stack_sim(&["up", "--dual-homed", bad]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("--dual-homed") && text(&o).contains(says),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn bad_scenario_files_name_file_line_and_expectation() {
    let dir = test_dir("bad-scenarios");
    let cases = [
        ("syntax.toml", "[stack\nunits = 3\n", ":1:", "syntax"),
        ("action.toml", "[stack]\nunits = 3\n\n[[step]]\ndo = \"explode\"\n", ":5:", "expected one of"),
        ("unit.toml", "[stack]\nunits = 3\n\n[[step]]\ndo = \"kill-unit\"\nunit = 9\n", ":6:", "1 to 3"),
        ("host.toml", "[stack]\nunits = 2\n\n[[traffic]]\nname = \"a\"\npattern = \"pair\"\nfrom = \"1/1\"\nto = \"5/1\"\n", ":8:", "no host 5/1"),
        ("field.toml", "[stack]\nunits = 2\nspeed = 3\n", ":3:", "unknown field"),
        ("backend.toml", "[stack]\nunits = 2\nbackend = \"veth\"\n", ":3:11:", "backend: 'veth': expected \"udp\" or \"netns\""),
    ];
    for (name, body, line, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        let o = stack_sim(&["run", &path.display().to_string()]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {t}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(&format!("{name}{line}")),
            "{name}: wants line {line}: {t}"
        );
        assert!(stderr.contains(expected), "{name}: wants '{expected}': {t}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a shipped scenario; its report.
fn run_scenario(file: &Path, dir: &Path, backend: &str) -> (Output, serde_json::Value) {
    let report = dir.join(format!(
        "{}.json",
        file.file_stem().unwrap().to_string_lossy()
    ));
    let o = stack_sim(&[
        "run",
        &file.display().to_string(),
        "--quiet",
        "--backend",
        backend,
        "--report",
        &report.display().to_string(),
        "--dir",
        &dir.join("stack").display().to_string(),
        "--bin-dir",
        &bin_dir().display().to_string(),
    ]);
    let json = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (o, serde_json::from_str(&json).expect("a JSON report"))
}

/// Runs every scenario in `scenarios/` on `backend` and checks its report.
fn every_shipped_scenario_passes_on(backend: &str) {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let files = sim::scenario::files_in(&scenarios).expect("scenarios/");
    assert!(files.len() >= 5, "{files:?}");
    let dir = test_dir(&format!("scenarios-{backend}"));
    for file in &files {
        // Real processes on a shared machine: a scenario that fails gets one more try, and
        // the failure is shown either way.
        let (mut o, mut report) = run_scenario(file, &dir, backend);
        if report["passed"] != true {
            eprintln!("{} ({backend}) failed once:\n{}", file.display(), text(&o));
            (o, report) = run_scenario(file, &dir, backend);
        }
        assert_eq!(
            report["passed"],
            true,
            "{} ({backend}): {}",
            file.display(),
            text(&o)
        );
        assert!(o.status.success(), "{}", text(&o));
        let assertions = report["assertions"].as_array().expect("assertions");
        assert!(!assertions.is_empty(), "{report}");
        let flows = report["flows"].as_array().expect("flows");
        assert!(
            flows.iter().all(|f| f["sent"].as_u64() > Some(0)),
            "{}: {report}",
            file.display()
        );
        assert!(report["initial_master"].as_u64() > Some(0), "{report}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_shipped_scenario_passes() {
    let _turn = one_stack_at_a_time();
    every_shipped_scenario_passes_on("udp");
}

/// Root only: the same scenarios with every host a network namespace whose traffic endpoint
/// is an AF_PACKET socket on its `eth0`, so flows and PFC cross the veths and the `afpacket`
/// front ports; no namespace or veth is left behind.
#[test]
fn every_shipped_scenario_passes_on_netns() {
    if !running_as_root() {
        eprintln!("skipped: the netns backend needs root");
        return;
    }
    let _turn = one_stack_at_a_time();
    let before = namespaces();
    every_shipped_scenario_passes_on("netns");
    let after = namespaces();
    let left: Vec<&str> = after
        .lines()
        .filter(|l| l.starts_with("stack-sim-") && !before.contains(*l))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

#[test]
fn the_demo_runs_and_shows_both_failures() {
    let _turn = one_stack_at_a_time();
    let dir = test_dir("demo");
    let report = dir.join("demo.json");
    let o = stack_sim(&[
        "demo",
        "--bin-dir",
        &bin_dir().display().to_string(),
        "--report",
        &report.display().to_string(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for needle in [
        "The stack, converged:",
        "1. The master's control plane",
        "2. The master unit",
        "between the survivors (some via",
        "every process has been stopped",
    ] {
        assert!(t.contains(needle), "no '{needle}' in {t}");
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["flows"].as_array().map(Vec::len), Some(60), "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn namespaces() -> String {
    let o = Command::new("ip").args(["netns", "list"]).output();
    o.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Root, `ip` and `ping`: what the netns tests need (they skip, saying so, without).
fn can_ping_across_namespaces() -> bool {
    if !running_as_root() {
        eprintln!("skipped: the netns backend needs root");
        return false;
    }
    let has = |c: &str| Command::new(c).arg("-V").output().is_ok();
    if !has("ip") || !has("ping") {
        eprintln!("skipped: needs ip (iproute2) and ping");
        return false;
    }
    true
}

/// The answers a `ping` run got back, from its summary line.
fn ping_received(stdout: &[u8]) -> u32 {
    String::from_utf8_lossy(stdout)
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| {
            l.split(", ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// `stack-sim up` of 3 units on the netns backend in a fresh directory (removed, with what
/// runs in it, when the returned guard drops), with `extra` arguments.
fn up_netns(name: &str, extra: &[&str]) -> (PathBuf, Cleanup, Output) {
    let dir = test_dir(name).join("stack");
    let cleanup = Cleanup(dir.clone());
    let (d, bins) = (dir.display().to_string(), bin_dir().display().to_string());
    let mut args = vec!["up", "--units", "3", "--backend", "netns", "--dir", &d];
    args.extend(["--bin-dir", &bins]);
    args.extend(extra);
    let up = stack_sim(&args);
    (dir, cleanup, up)
}

/// Root only: hosts as network namespaces; a real `ping` from unit 1's host to unit 3's
/// crosses unit 2 of a chain while the master's stackd is killed and started again
/// (`stack-sim kill` / `start`); `down` removes every namespace.
#[test]
fn netns_ping_across_three_units_while_a_control_plane_is_killed() {
    if !can_ping_across_namespaces() {
        return;
    }
    let _turn = one_stack_at_a_time();
    let (dir, _cleanup, up) = up_netns("netns", &["--topology", "chain"]);
    let d = dir.display().to_string();
    assert!(up.status.success(), "{}", text(&up));
    let out = String::from_utf8_lossy(&up.stdout).into_owned();
    let master: u32 = out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("Master"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no master in {out}"));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stack.json")).unwrap()).unwrap();
    let unit = |u: u32| &state["units"][(u - 1) as usize];
    let ns1 = unit(1)["netns"][0]["namespace"]
        .as_str()
        .unwrap()
        .to_string();
    let addr3 = unit(3)["netns"][0]["addr"].as_str().unwrap().to_string();
    assert!(namespaces().contains(&ns1));

    let ping = Command::new("ip")
        .args([
            "netns", "exec", &ns1, "ping", "-c", "40", "-i", "0.05", "-W", "1", &addr3,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ping");
    // Let a few pings through first; a ping has no event to await.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let m = master.to_string();
    let kill = stack_sim(&["kill", "--unit", &m, "--daemon", "stackd", "--dir", &d]);
    assert!(kill.status.success(), "{}", text(&kill));
    // A crashed control plane restarted by its supervisor a moment later.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let start = stack_sim(&["start", "--unit", &m, "--daemon", "stackd", "--dir", &d]);
    assert!(start.status.success(), "{}", text(&start));
    let ping = ping.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&ping.stdout).into_owned();
    let received = ping_received(&ping.stdout);
    assert!(
        received >= 36,
        "ping across the stack while unit {master}'s stackd restarted:\n{out}"
    );
    let status = stack_sim(&["status", "--dir", &d]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("3 of 3 units answer"),
        "{}",
        text(&status)
    );

    let down = stack_sim(&["down", "--dir", &d]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(!namespaces().contains(&ns1), "{}", namespaces());
    assert!(processes_in(&dir).is_empty());
    assert!(!dir.exists());
}

/// Ping from `ns` to `addr`: how many of `count` answers came back.
fn pings(ns: &str, addr: &str, count: u32) -> u32 {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-c", &count.to_string()])
        .args(["-i", "0.05", "-W", "1", addr])
        .output()
        .expect("ping");
    ping_received(&out.stdout)
}

/// A dual-homed server (one namespace, a NIC on each of two units, an address on each): a
/// host on a third unit reaches both addresses; when one of the server's units dies, the
/// other NIC still answers. `down` removes the server's namespace too.
#[test]
fn netns_dual_homed_server_keeps_a_path_when_one_of_its_units_dies() {
    if !can_ping_across_namespaces() {
        return;
    }
    let _turn = one_stack_at_a_time();
    let (dir, _cleanup, up) = up_netns("dualhomed", &["--dual-homed", "1-2"]);
    let d = dir.display().to_string();
    assert!(up.status.success(), "{}", text(&up));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stack.json")).unwrap()).unwrap();
    let hosts = |u: usize| state["units"][u - 1]["netns"].as_array().unwrap().clone();
    let (on1, on2) = (hosts(1), hosts(2));
    assert_eq!((on1.len(), on2.len(), hosts(3).len()), (2, 2, 1));
    let server = on1[1]["namespace"].as_str().unwrap().to_string();
    assert_eq!(
        on2[1]["namespace"], on1[1]["namespace"],
        "one namespace, two NICs"
    );
    let (nic1, nic2) = (
        on1[1]["addr"].as_str().unwrap().to_string(),
        on2[1]["addr"].as_str().unwrap().to_string(),
    );
    let client = hosts(3)[0]["namespace"].as_str().unwrap().to_string();
    assert!(namespaces().contains(&server));
    assert_eq!(pings(&client, &nic1, 5), 5, "server's NIC on unit 1");
    assert_eq!(pings(&client, &nic2, 5), 5, "server's NIC on unit 2");

    let kill = stack_sim(&["kill", "--unit", "1", "--daemon", "unit", "--dir", &d]);
    assert!(kill.status.success(), "{}", text(&kill));
    // The survivors re-route within tens of milliseconds; ping has no event to await, so it
    // gets a few tries.
    let mut reached = 0;
    for _ in 0..20 {
        reached = pings(&client, &nic2, 3);
        if reached == 3 {
            break;
        }
    }
    assert_eq!(reached, 3, "server's NIC on unit 2 after unit 1 died");
    assert_eq!(pings(&client, &nic1, 2), 0, "its NIC on the dead unit");

    let down = stack_sim(&["down", "--dir", &d]);
    assert!(down.status.success(), "{}", text(&down));
    let said = String::from_utf8_lossy(&down.stdout).into_owned();
    assert_eq!(said.matches(&server).count(), 1, "{said}");
    assert!(!namespaces().contains(&server), "{}", namespaces());
    assert!(processes_in(&dir).is_empty());
}
