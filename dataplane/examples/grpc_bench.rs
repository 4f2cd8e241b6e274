//! gRPC benchmark of a running `dataplaned`, over its Unix socket:
//!
//! * **FDB programming rate**: static FDB entries per second through batched `Write`s — rounds
//!   of SET batches filling the table up to `--entries` (below the FDB capacity, 32,768 by
//!   default, which also holds learned entries), then DELETE batches emptying it again; SET and
//!   DELETE rates reported separately, over all rounds.
//! * **Unary latency**: `--calls` sequential `GetCounters` calls and as many one-entry `Write`s
//!   (alternately SET and DELETE of one entry), p50/p90/p99/max; and, for reference, as many
//!   `grpc.health.v1.Health/Check`s, which tonic answers without the forwarding thread.
//!
//! It attaches a control session first (generation: the current Unix time in microseconds, so
//! it takes over from anything attached before) and keeps it open for the run. Entries go to
//! VLAN 1, MACs 02:be:00:00:00:00 upwards, destination the local port `--port` (0/1).
//!
//! ```text
//! cargo run --release -p dataplane --example grpc_bench -- \
//!     --socket /run/dataplaned-bench/grpc.sock [--batch 10000] [--entries 30000] \
//!     [--rounds 10] [--calls 10000] [--inflight 1] [--port 0/1]
//! grpc_bench --socket PATH --counters   # just print the per-port counters, no session
//! ```
#![allow(missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper_util::rt::TokioIo;
use proto::dataplane::v1 as pb;
use proto::dataplane::v1::dataplane_client::DataplaneClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

type Client = DataplaneClient<Channel>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Opts {
    socket: PathBuf,
    batch: usize,
    entries: usize,
    rounds: usize,
    calls: usize,
    inflight: usize,
    counters_only: bool,
    slot: u32,
    port: u32,
}

fn usage(msg: &str) -> ! {
    eprintln!("grpc_bench: {msg}");
    eprintln!(
        "usage: grpc_bench --socket PATH [--counters] [--batch N] [--entries N] [--rounds N] [--calls N] [--inflight N] [--port SLOT/PORT]"
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        socket: PathBuf::from("/run/stackd/dataplaned.sock"),
        batch: 10_000,
        entries: 30_000,
        rounds: 10,
        calls: 10_000,
        inflight: 1,
        counters_only: false,
        slot: 0,
        port: 1,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--counters" {
            o.counters_only = true;
            continue;
        }
        let val = it
            .next()
            .unwrap_or_else(|| usage(&format!("{a} needs a value")));
        let num = || -> usize { val.parse().unwrap_or_else(|_| usage(&format!("bad {a}"))) };
        match a.as_str() {
            "--socket" => o.socket = PathBuf::from(val),
            "--batch" => o.batch = num().max(1),
            "--entries" => o.entries = num(),
            "--rounds" => o.rounds = num(),
            "--calls" => o.calls = num(),
            "--inflight" => o.inflight = num().max(1),
            "--port" => {
                let (s, p) = val
                    .split_once('/')
                    .unwrap_or_else(|| usage("--port SLOT/PORT"));
                o.slot = s.parse().unwrap_or_else(|_| usage("bad --port"));
                o.port = p.parse().unwrap_or_else(|_| usage("bad --port"));
            }
            other => usage(&format!("unknown option {other}")),
        }
    }
    o
}

async fn connect(socket: PathBuf) -> Result<Channel, BoxError> {
    // The URI is required but unused: the connector dials the Unix socket.
    let channel = Endpoint::try_from("http://[::]:50051")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await?;
    Ok(channel)
}

fn fdb_update(op: pb::update::Op, mac: u64, slot: u32, port: u32) -> pb::Update {
    pb::Update {
        op: op as i32,
        entity: Some(pb::update::Entity::Fdb(pb::StaticFdbEntry {
            vid: 1,
            mac,
            dest: Some(pb::FdbDestination {
                dest: Some(pb::fdb_destination::Dest::Local(pb::PortRef { slot, port })),
            }),
        })),
    }
}

const MAC_BASE: u64 = 0x02be_0000_0000;

/// The requests of one pass (SET or DELETE) over `entries` MACs, in batches.
fn batches(o: &Opts, generation: u64, op: pb::update::Op) -> Vec<pb::WriteRequest> {
    (0..o.entries)
        .step_by(o.batch)
        .map(|first| pb::WriteRequest {
            generation,
            updates: (first..(first + o.batch).min(o.entries))
                .map(|i| fdb_update(op, MAC_BASE + i as u64, o.slot, o.port))
                .collect(),
        })
        .collect()
}

/// Sends `requests` with up to `inflight` outstanding; returns the entries applied.
async fn write_all(
    client: &Client,
    requests: Vec<pb::WriteRequest>,
    inflight: usize,
) -> Result<u64, BoxError> {
    let mut applied = 0u64;
    let mut set = tokio::task::JoinSet::new();
    for req in requests {
        if set.len() >= inflight {
            applied += u64::from(set.join_next().await.expect("a task")??);
        }
        let mut c = client.clone();
        set.spawn(async move { Ok::<_, tonic::Status>(c.write(req).await?.into_inner().applied) });
    }
    while let Some(r) = set.join_next().await {
        applied += u64::from(r??);
    }
    Ok(applied)
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let n = samples.len();
    if n == 0 {
        return;
    }
    let p = |q: f64| samples[((n as f64 * q) as usize).min(n - 1)].as_secs_f64() * 1e6;
    let mean = samples.iter().sum::<Duration>().as_secs_f64() / n as f64 * 1e6;
    println!(
        "latency {name}: n={n} p50={:.1}us p90={:.1}us p99={:.1}us max={:.1}us mean={mean:.1}us",
        p(0.50),
        p(0.90),
        p(0.99),
        samples[n - 1].as_secs_f64() * 1e6
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let o = parse_opts();
    let channel = connect(o.socket.clone()).await?;
    let mut client = DataplaneClient::new(channel.clone())
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    if o.counters_only {
        let c = client
            .get_counters(pb::CountersRequest {})
            .await?
            .into_inner();
        for p in c.ports {
            let mut discards: Vec<_> = p.discards.iter().filter(|(_, v)| **v > 0).collect();
            discards.sort();
            let tx_drops: u64 = p.queues.iter().map(|q| q.dropped_frames).sum();
            println!(
                "port {}/{}: rx {} tx {} malformed {} queue drops {tx_drops} discards {discards:?}",
                p.port.as_ref().map_or(0, |r| r.slot),
                p.port.as_ref().map_or(0, |r| r.port),
                p.rx_frames,
                p.tx_frames,
                p.rx_malformed
            );
        }
        return Ok(());
    }

    // Attach a session and keep it open: writes are fenced to the attached generation.
    let generation = SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros() as u64;
    let (session_tx, session_rx) = tokio::sync::mpsc::channel(4);
    session_tx
        .send(pb::SessionRequest {
            msg: Some(pb::session_request::Msg::Attach(pb::Attach {
                generation,
                client: format!("grpc_bench pid {}", std::process::id()),
                reconcile_timeout_ms: 0,
            })),
        })
        .await?;
    let mut events = client
        .session(tokio_stream::wrappers::ReceiverStream::new(session_rx))
        .await?
        .into_inner();
    match events.message().await? {
        Some(pb::SessionResponse {
            msg: Some(pb::session_response::Msg::Attached(a)),
        }) => println!(
            "attached: generation {generation}, unit {}, stale entries {}",
            a.unit, a.stale_entries
        ),
        other => return Err(format!("expected `attached`, got {other:?}").into()),
    }
    // End the reconcile at once so no timer sweeps our entries mid-run.
    session_tx
        .send(pb::SessionRequest {
            msg: Some(pb::session_request::Msg::ReconcileDone(
                pb::ReconcileDone {},
            )),
        })
        .await?;
    // Drain the session's events in the background (learned MACs etc.).
    let drain = tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok(Some(_)) = events.message().await {
            n += 1;
        }
        n
    });

    // (a) FDB programming rate.
    println!(
        "fdb: {} rounds of {} entries in batches of {} ({} in flight), SET then DELETE",
        o.rounds, o.entries, o.batch, o.inflight
    );
    let (mut set_time, mut del_time) = (Duration::ZERO, Duration::ZERO);
    let (mut set_n, mut del_n) = (0u64, 0u64);
    for round in 0..o.rounds {
        let sets = batches(&o, generation, pb::update::Op::Set);
        let dels = batches(&o, generation, pb::update::Op::Delete);
        let t = Instant::now();
        let n = write_all(&client, sets, o.inflight).await?;
        let ts = t.elapsed();
        let t = Instant::now();
        let d = write_all(&client, dels, o.inflight).await?;
        let td = t.elapsed();
        println!(
            "  round {round}: SET {n} in {:.1} ms ({:.0}/s), DELETE {d} in {:.1} ms ({:.0}/s)",
            ts.as_secs_f64() * 1e3,
            n as f64 / ts.as_secs_f64(),
            td.as_secs_f64() * 1e3,
            d as f64 / td.as_secs_f64()
        );
        set_time += ts;
        del_time += td;
        set_n += n;
        del_n += d;
    }
    println!(
        "fdb SET: {set_n} entries in {:.3} s = {:.0} entries/s",
        set_time.as_secs_f64(),
        set_n as f64 / set_time.as_secs_f64()
    );
    println!(
        "fdb DELETE: {del_n} entries in {:.3} s = {:.0} entries/s",
        del_time.as_secs_f64(),
        del_n as f64 / del_time.as_secs_f64()
    );

    // (b) Unary latency. First the standard health check, which tonic answers without the
    // forwarding thread: the gRPC-over-UDS round trip alone, to compare the others with.
    let warm = (o.calls / 20).max(10);
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let mut samples = Vec::with_capacity(o.calls);
    for i in 0..o.calls + warm {
        let t = Instant::now();
        health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await?;
        if i >= warm {
            samples.push(t.elapsed());
        }
    }
    percentiles("Health/Check (no forwarding thread)", samples);
    let mut samples = Vec::with_capacity(o.calls);
    for i in 0..o.calls + warm {
        let t = Instant::now();
        client.get_counters(pb::CountersRequest {}).await?;
        if i >= warm {
            samples.push(t.elapsed());
        }
    }
    percentiles("GetCounters", samples);
    let mut samples = Vec::with_capacity(o.calls);
    for i in 0..o.calls + warm {
        let op = if i % 2 == 0 {
            pb::update::Op::Set
        } else {
            pb::update::Op::Delete
        };
        let req = pb::WriteRequest {
            generation,
            updates: vec![fdb_update(op, MAC_BASE, o.slot, o.port)],
        };
        let t = Instant::now();
        client.write(req).await?;
        if i >= warm {
            samples.push(t.elapsed());
        }
    }
    percentiles("Write(1 fdb entry)", samples);
    // Leave nothing behind (an odd call count leaves the entry set).
    client
        .write(pb::WriteRequest {
            generation,
            updates: vec![fdb_update(pb::update::Op::Delete, MAC_BASE, o.slot, o.port)],
        })
        .await?;

    drop(session_tx);
    let events = tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    println!("session events received during the run: {events}");
    Ok(())
}
