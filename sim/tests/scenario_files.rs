//! Scenario files: every shipped one (and the demo's) reads; bad ones are refused with the
//! file, line and what was expected.

use std::path::Path;

use sim::scenario::{parse, read, Action, Assert, ScenarioError, Target, UnitRef};

fn shipped() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    sim::scenario::files_in(&dir).expect("scenarios/")
}

#[test]
fn every_shipped_scenario_reads() {
    let files = shipped();
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        let sc = read(&f).unwrap_or_else(|e| panic!("{e}"));
        assert!(!sc.steps.is_empty(), "{}", f.display());
        assert!(!sc.asserts.is_empty(), "{}", f.display());
        assert!(!sc.description.is_empty(), "{}", f.display());
    }
}

#[test]
fn the_demo_scenario_reads() {
    let sc = parse(Path::new("demo.toml"), sim::ops::DEMO_SCENARIO).expect("demo.toml");
    assert_eq!(sc.stack.units, 6);
    assert!(sc
        .steps
        .iter()
        .any(|s| s.action == Action::Kill(Target::Stackd, UnitRef::Master)));
    assert!(sc
        .steps
        .iter()
        .any(|s| s.action == Action::Kill(Target::Unit, UnitRef::Master)));
}

fn error(src: &str) -> (usize, usize, String) {
    match parse(Path::new("x.toml"), src) {
        Err(ScenarioError::Invalid {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected an error for {src:?}, got {other:?}"),
    }
}

#[test]
fn bad_files_name_the_line_and_what_was_expected() {
    let cases: &[(&str, usize, &str)] = &[
        ("name = \"x\"\n", 1, "missing field `stack`"),
        ("[stack]\nunits = 0\n", 2, "1 to 6"),
        ("[stack]\nunits = 3\ntopology = \"star\"\n", 3, "\"ring\" or \"chain\""),
        ("[stack]\nunits = 3\nlinks = 5\n", 3, "1 to 4"),
        ("[stack]\nunits = 3\nfront_speed = \"fast\"\n", 3, "not a speed"),
        ("[stack]\nunits = 3\nlossless = [9]\n", 3, "0 to 7"),
        (
            "[stack]\nunits = 3\n[[traffic]]\nname = \"a\"\npattern = \"mesh\"\n",
            5,
            "\"pair\", \"incast\" or \"all-to-all\"",
        ),
        (
            "[stack]\nunits = 3\n[[traffic]]\nname = \"a\"\npattern = \"pair\"\nfrom = \"1/1\"\n",
            5,
            "needs `to`",
        ),
        (
            "[stack]\nunits = 3\n[[traffic]]\nname = \"a\"\npattern = \"pair\"\nfrom = \"x\"\nto = \"2\"\n",
            6,
            "not a host",
        ),
        (
            "[stack]\nunits = 3\n[[traffic]]\nname = \"a\"\npattern = \"pair\"\nfrom = 1\nto = 2\nrate_fps = 0\n",
            8,
            "1 to 200000",
        ),
        ("[stack]\nunits = 3\n[[step]]\ndo = \"wait\"\n", 4, "needs `ms`"),
        ("[stack]\nunits = 3\n[[step]]\ndo = \"kill-stackd\"\n", 4, "needs `unit`"),
        (
            "[stack]\nunits = 3\n[[step]]\ndo = \"kill-unit\"\nunit = \"boss\"\n",
            5,
            "\"master\", \"standby\"",
        ),
        ("[stack]\nunits = 3\n[[step]]\ndo = \"cut-link\"\nlink = \"1\"\n", 5, "\"1-2\""),
        ("[stack]\nunits = 3\n[[step]]\ndo = \"cut-link\"\nlink = \"1-7\"\n", 5, "1 to 3"),
        (
            "[stack]\nunits = 3\n[[step]]\ndo = \"degrade-link\"\nlink = \"1-2\"\nloss = 2.0\n",
            6,
            "0.0 to 1.0",
        ),
        ("[stack]\nunits = 3\n[[step]]\ndo = \"expect\"\n", 4, "needs a condition"),
        (
            "[stack]\nunits = 3\n[[step]]\ndo = \"start-traffic\"\ntraffic = [\"nope\"]\n",
            4,
            "no traffic named 'nope'",
        ),
        ("[stack]\nunits = 3\n[[step]]\ndo = \"wait\"\nms = 1\nsecs = 2\n", 6, "unknown field"),
        ("[stack]\nunits = 3\n[[assert]]\nflow = \"ghost\"\n", 4, "no such traffic"),
        ("[stack]\nunits = 3\n[[assert]]\nmax_lost = 0\n", 3, "exactly one of"),
        ("[stack]\nunits = 3\n[[assert]]\nmaster = \"me\"\n", 4, "initial-master"),
        ("[stack]\nunits = 3\n[[assert]]\nmax_masters = 0\n", 4, "1 or more"),
        ("[stack]\nunits = 3\nhello_interval_ms = 0\n", 3, "1 to 1000"),
        (
            "[stack]\nunits = 3\n[[step]]\ndo = \"restart-stackd\"\nunit = \"random\"\nrepeat = 5\n",
            4,
            "`repeat` needs `every_ms`",
        ),
        (
            "[stack]\nunits = 3\n[[step]]\ndo = \"wait\"\nms = 1\nrepeat = 0\nevery_ms = 5\n",
            6,
            "1 to 10000",
        ),
        (
            "[stack]\nunits = 3\n[[host]]\nname = \"1/1\"\nnics = [\"1/1\"]\n",
            4,
            "not UNIT/PORT",
        ),
        (
            "[stack]\nunits = 3\n[[host]]\nname = \"s\"\nnics = \"1/1\"\n",
            5,
            "list of front ports",
        ),
        (
            "[stack]\nunits = 3\n[[host]]\nname = \"s\"\nnics = [\"1/1\", \"4/1\"]\n",
            5,
            "no host 4/1",
        ),
    ];
    for (src, line, expected) in cases {
        let (l, column, message) = error(src);
        assert_eq!(l, *line, "{src:?}: {message}");
        assert!(column >= 1);
        assert!(message.contains(expected), "{src:?}: {message}");
    }
}

#[test]
fn a_good_file_reads_into_steps_and_assertions() {
    let src = r#"
name = "t"
seed = 9
[stack]
units = 4
topology = "chain"
links = 2
hosts_per_unit = 2
front_speed = "1G"
lossless = [3, 4]

[[traffic]]
name = "in"
pattern = "incast"
from = ["2/1", "3/2"]
to = "1/2"
priority = 3

[[traffic]]
name = "all"
pattern = "all-to-all"

[[step]]
do = "start-traffic"
[[step]]
at_ms = 100
do = "flap-link"
link = "2-3"
index = 2
count = 3
[[step]]
do = "restart-dataplaned"
unit = "standby"
[[step]]
do = "restart-stackd"
unit = "random"
down_ms = 50
repeat = 10
every_ms = 200

[[assert]]
flow = "in"
max_lost = 0
[[assert]]
master_not = 1
[[assert]]
max_masters = 1
"#;
    let sc = parse(Path::new("t.toml"), src).expect("parses");
    assert_eq!(sc.seed, 9);
    assert_eq!(sc.stack.front_speed_bps, 1_000_000_000);
    assert_eq!(sc.stack.lossless, vec![3, 4]);
    assert_eq!(sc.traffic.len(), 2);
    match &sc.traffic[1].pattern {
        sim::traffic::Pattern::AllToAll { hosts } => assert_eq!(hosts.len(), 8),
        p => panic!("{p:?}"),
    }
    assert_eq!(sc.steps.len(), 4);
    assert_eq!(sc.steps[0].repeat, 1);
    assert_eq!(
        sc.steps[3].action,
        Action::Restart(Target::Stackd, UnitRef::Random)
    );
    assert_eq!(
        (
            sc.steps[3].repeat,
            sc.steps[3].every_ms,
            sc.steps[3].down_ms
        ),
        (10, 200, 50)
    );
    assert_eq!(sc.asserts[2], Assert::MaxMasters(1));
    assert_eq!(sc.stack.hello_interval_ms, 10);
    assert_eq!(sc.steps[1].at_ms, Some(100));
    assert!(matches!(
        sc.steps[1].action,
        Action::FlapLink { count: 3, link, .. } if link.index == Some(2) && (link.a, link.b) == (2, 3)
    ));
    assert_eq!(
        sc.steps[2].action,
        Action::Restart(Target::Dataplaned, UnitRef::Standby)
    );
    assert!(matches!(sc.asserts[1], Assert::MasterNot(_)));
    let flows = sim::traffic::expand("all", &sc.traffic[1].pattern, 10, 64, 0);
    assert_eq!(flows.len(), 8 * 7);
}

#[test]
fn a_named_host_with_two_nics_gets_a_flow_per_path() {
    let src = r#"
[stack]
units = 3
hosts_per_unit = 2
[[host]]
name = "server"
nics = ["1/2", "2/2"]
[[traffic]]
name = "t"
pattern = "pair"
from = "3/1"
to = "server"
[[assert]]
flow = "t"
any = true
max_lost = 0
"#;
    let sc = parse(Path::new("t.toml"), src).expect("parses");
    let flows = sim::traffic::expand("t", &sc.traffic[0].pattern, 10, 64, 0);
    let names: Vec<_> = flows.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["t:3/1>1/2", "t:3/1>2/2"]);
    assert!(matches!(&sc.asserts[0], Assert::Flow { any: true, .. }));
}
