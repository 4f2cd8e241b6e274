//! `down` on what a stack left behind: it never signals a process that is not that stack's
//! daemon (a reused pid), and it removes only directories it made.

use std::process::Command;

use sim::launch::down;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("stack-sim-down-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_reused_pid_is_not_killed() {
    let d = dir("reused");
    // A process that is not a daemon of this stack holds a recorded pid.
    let mut other = Command::new("sleep").arg("30").spawn().expect("sleep");
    std::fs::write(
        d.join("pids"),
        format!("1 stackd {}\n2 dataplaned 999999999\n", other.id()),
    )
    .unwrap();
    std::fs::create_dir_all(d.join("unit1")).unwrap();
    let report = down(&d).expect("down");
    assert!(report.killed.is_empty(), "{report:?}");
    assert_eq!(report.gone.len(), 2, "{report:?}");
    assert!(report.removed);
    assert!(!d.exists());
    assert!(other.try_wait().unwrap().is_none(), "sleep was killed");
    let _ = other.kill();
    let _ = other.wait();
}

#[test]
fn a_foreign_directory_is_refused_and_kept() {
    let d = dir("foreign");
    std::fs::write(d.join("notes.txt"), "mine").unwrap();
    let err = down(&d).expect_err("refused");
    assert!(
        err.to_string().contains("not a stack-sim directory"),
        "{err}"
    );
    assert!(d.join("notes.txt").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_missing_directory_is_nothing_to_do() {
    let d = std::env::temp_dir().join(format!("stack-sim-down-{}-none", std::process::id()));
    let report = down(&d).expect("nothing to do");
    assert!(!report.removed && report.killed.is_empty());
}

#[test]
fn a_corrupt_state_file_is_no_obstacle() {
    let d = dir("corrupt");
    std::fs::write(d.join("stack.json"), "{ not json").unwrap();
    let err = sim::launch::read_state(&d).expect_err("corrupt");
    assert!(err.to_string().contains("stack.json:1:"), "{err}");
    let report = down(&d).expect("down");
    assert!(report.removed);
}

#[test]
fn a_new_stack_never_lands_among_other_files() {
    let d = dir("prepare");
    sim::launch::prepare_dir(&d).expect("an empty directory is fine");
    std::fs::write(d.join("notes.txt"), "mine").unwrap();
    let err = sim::launch::prepare_dir(&d).expect_err("refused");
    assert!(
        err.to_string().contains("not a stack-sim directory"),
        "{err}"
    );
    assert!(d.join("notes.txt").exists());
    std::fs::remove_dir_all(&d).unwrap();
    // What a dead stack left is cleaned up.
    std::fs::create_dir_all(d.join("unit1")).unwrap();
    std::fs::write(d.join("pids"), "").unwrap();
    sim::launch::prepare_dir(&d).expect("leftovers");
    assert!(!d.exists());
}
