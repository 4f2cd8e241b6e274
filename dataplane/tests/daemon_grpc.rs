//! gRPC plumbing of `dataplaned`: the Unix socket is private (0600), the standard health and
//! reflection services answer, SIGTERM shuts down cleanly (exit 0, socket removed), and the
//! threads run on the CPUs they are given.

mod daemon;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use daemon::*;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

const SERVICE: &str = "stackd.dataplane.v1.Dataplane";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_health_reflection_and_clean_shutdown() {
    let a = Host::new("A", mac(1, 1));
    let mut u1 = Daemon::start(1, &[a.port_spec("0/1", "10G")], &[]);

    let mode = std::fs::metadata(&u1.socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {:o}", mode & 0o777);

    let ch = channel(&u1.socket).await;
    let mut health = HealthClient::new(ch.clone());
    for service in ["", SERVICE] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| u1.fail(format!("health check of '{service}': {e}")))
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "service '{service}'");
    }

    let mut reflection = ServerReflectionClient::new(ch.clone());
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::once(req))
        .await
        .unwrap_or_else(|e| u1.fail(format!("reflection: {e}")))
        .into_inner();
    let answer = tokio::time::timeout(WAIT, answers.message())
        .await
        .expect("reflection answers in time")
        .expect("reflection stream")
        .expect("one answer");
    let services: Vec<String> = match answer.message_response {
        Some(MessageResponse::ListServicesResponse(l)) => {
            l.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("not a service list: {other:?}"),
    };
    assert!(services.iter().any(|s| s == SERVICE), "{services:?}");
    assert!(
        services.iter().any(|s| s == "grpc.health.v1.Health"),
        "{services:?}"
    );
    drop((health, reflection, answers, ch));

    u1.sigterm();
    match u1.wait_exit(Duration::from_secs(5)) {
        Some(st) => assert_eq!(st.code(), Some(0), "exit status after SIGTERM: {st}"),
        None => u1.fail("dataplaned did not exit within 5 s of SIGTERM"),
    }
    assert!(!u1.socket.exists(), "the socket was left behind");
    assert!(
        u1.log_text().contains("dataplaned stopped"),
        "{}",
        u1.log_text()
    );
}

/// `--forwarding-cpu` and `--control-cpus`: the forwarding thread runs on its CPU alone, every
/// other thread (main, tokio's) on the control CPUs, and the API still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_run_on_the_cpus_they_are_given() {
    let here = dataplane::daemon::cpus::CpuList::available().expect("affinity");
    let [control, forwarding, ..] = here.cpus() else {
        eprintln!("SKIP threads_run_on_the_cpus_they_are_given: this process may run on one CPU only ({here})");
        return;
    };
    let (control, forwarding) = (control.to_string(), forwarding.to_string());
    let a = Host::new("A", mac(1, 1));
    let u1 = Daemon::start(
        1,
        &[a.port_spec("0/1", "10G")],
        &["--forwarding-cpu", &forwarding, "--control-cpus", &control],
    );
    let mut c = u1.client().await;
    assert_eq!(counters(&mut c).await.ports.len(), 1);

    let tasks = std::fs::read_dir(format!("/proc/{}/task", u1.pid())).expect("tasks");
    let mut seen = Vec::new();
    for task in tasks {
        let dir = task.expect("task").path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        seen.push((name.trim().to_string(), cpus));
    }
    for (name, cpus) in &seen {
        let want = if name == "forwarding" {
            &forwarding
        } else {
            &control
        };
        assert_eq!(cpus, want, "thread {name}: {seen:?}");
    }
    assert!(
        seen.iter().any(|(n, _)| n == "forwarding") && seen.len() >= 3,
        "threads: {seen:?}"
    );
    assert!(
        u1.log_text().contains("forwarding thread placed"),
        "{}",
        u1.log_text()
    );
}
