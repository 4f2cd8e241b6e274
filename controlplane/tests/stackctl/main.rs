//! The real `stackctl` binary against a fake stackd (canned answers, recorded requests) on a
//! Unix socket: every show command's table and `--json`, the commands' requests and messages,
//! stackd's refusals, an unreachable stackd, bad arguments.

mod fake_stackd;
mod show;

use std::path::Path;
use std::process::Command;

use fake_stackd::{Commands, FakeStackd, Received, TempDir};
use serde_json::{json, Value};

/// What a `stackctl` run did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn stackctl_with(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stackctl"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run stackctl");
    let run = Run {
        code: out.status.code().expect("stackctl exited by a signal"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "stackctl panicked: {}",
        run.stderr
    );
    run
}

/// `stackctl --socket SOCKET ARGS…`, which must succeed.
fn ok(fake: &FakeStackd, args: &[&str]) -> String {
    let socket = fake.socket.to_str().unwrap();
    let run = stackctl_with(&[&["--socket", socket], args].concat(), &[]);
    assert_eq!(run.code, 0, "stackctl {args:?} failed: {}", run.stderr);
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    run.stdout
}

/// The same with `--json`, parsed.
fn ok_json(fake: &FakeStackd, args: &[&str]) -> Value {
    let out = ok(fake, &[args, &["--json"]].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn start() -> (TempDir, FakeStackd) {
    start_with(Commands::Accept)
}

fn start_with(commands: Commands) -> (TempDir, FakeStackd) {
    let dir = TempDir::new();
    let fake = FakeStackd::start_at(&dir.0.join("stackd.sock"), commands);
    (dir, fake)
}

/// Asserts that some line of `out` is, word for word, `words`.
fn assert_row(out: &str, words: &[&str]) {
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().eq(words.iter().copied())),
        "no line {words:?} in:\n{out}"
    );
}

/// The column where `header` starts in the table's header line (the one above the rule) and
/// where `cell` starts in the line starting with `row`: equal when the columns are aligned.
fn assert_aligned(out: &str, header: &str, row: &str, cell: &str) {
    let lines: Vec<&str> = out.lines().collect();
    let rule = lines.iter().position(|l| l.starts_with("---")).unwrap();
    let h = lines[rule - 1];
    let r = out.lines().find(|l| l.starts_with(row)).unwrap();
    assert_eq!(h.find(header), r.find(cell), "not aligned:\n{h}\n{r}");
}

#[test]
fn commands_send_their_request_and_print_stackds_message() {
    let (_dir, fake) = start();
    let cases: [(&[&str], Received, &str); 6] = [
        (
            &["set", "priority", "2", "15"],
            Received::SetPriority {
                unit: 2,
                priority: 15,
            },
            "unit 2 priority set to 15",
        ),
        (
            &["set", "priority", "3", "0"],
            Received::SetPriority {
                unit: 3,
                priority: 0,
            },
            "unit 3 priority set to 0",
        ),
        (
            &["set", "standby", "3"],
            Received::SetStandby { unit: 3 },
            "standby set to unit 3",
        ),
        (
            &["set", "standby", "none"],
            Received::SetStandby { unit: 0 },
            "standby set to unit 0",
        ),
        (
            &["renumber", "3", "5"],
            Received::Renumber {
                unit: 3,
                new_unit: 5,
            },
            "unit 3 renumbered to 5",
        ),
        (
            &["initiate", "failover"],
            Received::InitiateFailover,
            "failover to unit 2 started",
        ),
    ];
    for (args, request, message) in cases {
        assert_eq!(ok(&fake, args), format!("{message}\n"));
        assert_eq!(fake.received().last(), Some(&request));
        assert_eq!(ok_json(&fake, args), json!({ "message": message }));
        assert_eq!(fake.received().last(), Some(&request));
    }
    assert_eq!(fake.received().len(), 12);
}

#[test]
fn refusals_print_stackds_message_and_exit_1() {
    for (code, message) in [
        (
            tonic::Code::FailedPrecondition,
            "not the master: unit 2 is; run this on unit 2",
        ),
        (tonic::Code::InvalidArgument, "no unit 5 in the stack"),
    ] {
        let (_dir, fake) = start_with(Commands::Refuse(code, message));
        let run = stackctl_with(
            &[
                "--socket",
                fake.socket.to_str().unwrap(),
                "set",
                "priority",
                "5",
                "9",
            ],
            &[],
        );
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(run.stderr, format!("stackctl: {message}\n"));
        assert!(run.stdout.is_empty());
        assert_eq!(
            fake.received(),
            vec![Received::SetPriority {
                unit: 5,
                priority: 9
            }]
        );
    }
}

#[test]
fn stackd_unavailable_is_not_an_unreachable_stackd() {
    let message = "not attached to this unit's dataplaned yet (is it running?)";
    let (_dir, fake) = start_with(Commands::Refuse(tonic::Code::Unavailable, message));
    let socket = fake.socket.to_str().unwrap();
    let run = stackctl_with(&["--socket", socket, "initiate", "failover"], &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        format!("stackctl: stackd at {socket} cannot answer now: {message}\n")
    );
}

#[test]
fn an_unreachable_stackd_says_what_to_do() {
    let dir = TempDir::new();
    // No socket at all.
    let missing = dir.0.join("stackd.sock");
    let run = stackctl_with(
        &["--socket", missing.to_str().unwrap(), "show", "switch"],
        &[],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        format!(
            "stackctl: cannot reach stackd at {} (no such socket): is stackd running with its \
             management socket there? Check the path, or use --unit.\n",
            missing.display()
        )
    );
    // A socket nobody listens on any more.
    let stale = dir.0.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let run = stackctl_with(&["--socket", stale.to_str().unwrap(), "show", "nsf"], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("(connection refused)"),
        "{}",
        run.stderr
    );
    // A unit's default socket.
    let run = stackctl_with(
        &["--unit", "4", "show", "switch"],
        &[("XDG_RUNTIME_DIR", &dir.0)],
    );
    assert_eq!(run.code, 1);
    let socket = dir.0.join("stackd/unit4/stackd.sock");
    assert_eq!(
        run.stderr,
        format!(
            "stackctl: cannot reach stackd at {} (no such socket, nor its directory): is stackd \
             running for unit 4? Use --socket or --unit.\n",
            socket.display()
        )
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let (_dir, fake) = start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .args([
            "--socket",
            fake.socket.to_str().unwrap(),
            "show",
            "pfc",
            "counters",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // As `stackctl … | head -0`: the reader is gone before (or after) stackctl writes.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_peer_that_hangs_up_is_an_unreachable_stackd() {
    let dir = TempDir::new();
    let socket = dir.0.join("stackd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    // Accepts one connection and closes it at once.
    let peer = std::thread::spawn(move || drop(listener.accept()));
    let run = stackctl_with(
        &["--socket", socket.to_str().unwrap(), "show", "switch"],
        &[],
    );
    peer.join().unwrap();
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with(&format!(
            "stackctl: cannot reach stackd at {} (",
            socket.display()
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_socket_that_is_not_stackds_is_named_as_such() {
    let dir = TempDir::new();
    let other = FakeStackd::start_health_only_at(&dir.0.join("dataplane.sock"));
    let run = stackctl_with(
        &["--socket", other.socket.to_str().unwrap(), "show", "switch"],
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with(&format!(
            "stackctl: {} does not serve stackd.stack.v1.StackManagement/ShowSwitch",
            other.socket.display()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("not dataplaned's"), "{}", run.stderr);
}

#[test]
fn a_silent_stackd_times_out() {
    let dir = TempDir::new();
    let socket = dir.0.join("stackd.sock");
    // Bound but never accepting nor answering.
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let run = stackctl_with(
        &[
            "--socket",
            socket.to_str().unwrap(),
            "--timeout",
            "1",
            "show",
            "switch",
        ],
        &[],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        format!(
            "stackctl: stackd at {} did not answer within 1 s: is it overloaded or stuck? Check \
             its log, or try a longer --timeout\n",
            socket.display()
        )
    );
}

#[test]
fn unit_selects_the_default_socket() {
    let dir = TempDir::new();
    let fake = FakeStackd::start_at(&dir.0.join("stackd/unit3/stackd.sock"), Commands::Accept);
    let env = [("XDG_RUNTIME_DIR", dir.0.as_path())];
    let run = stackctl_with(&["--unit", "3", "show", "nsf"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("warm"));
    let run = stackctl_with(&["show", "nsf", "--unit", "3", "--json"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(fake.received(), vec![Received::ShowNsf; 2]);
    // Without --unit: unit 1's socket, where nothing listens.
    let run = stackctl_with(&["show", "nsf"], &env);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("unit1/stackd.sock"), "{}", run.stderr);
    assert!(run.stderr.contains("for unit 1?"), "{}", run.stderr);
}

#[test]
fn bad_arguments_exit_2_naming_the_argument() {
    let (_dir, fake) = start();
    let socket = fake.socket.to_str().unwrap();
    for (args, named) in [
        (&["set", "priority", "2", "256"][..], "<PRIORITY>"),
        (&["set", "priority", "7", "1"], "<UNIT>"),
        (&["set", "priority", "2"], "<PRIORITY>"),
        (&["set", "standby", "primary"], "<UNIT|none>"),
        (&["renumber", "2", "0"], "<NEW_UNIT>"),
        (&["renumber", "x", "2"], "<UNIT>"),
        (&["show", "pfc"], "counters"),
        (&["show", "swtich"], "swtich"),
        (&["--unit", "0", "show", "switch"], "--unit"),
        (&["--timeout", "0", "show", "switch"], "--timeout"),
    ] {
        let run = stackctl_with(&[&["--socket", socket], args].concat(), &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(named),
            "{args:?} should name {named}: {}",
            run.stderr
        );
    }
    let run = stackctl_with(&["--socket", socket, "--unit", "2", "show", "switch"], &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--unit") && run.stderr.contains("--socket"),
        "{}",
        run.stderr
    );
    assert!(fake.received().is_empty(), "{:?}", fake.received());
}
