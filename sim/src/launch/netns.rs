//! The `netns` backend's hosts: each front port's host is a Linux network namespace with a
//! veth whose other end is the unit's `afpacket` port, so `ping`, `iperf3`, `tcpdump` and
//! scapy run in it (`ip netns exec NAMESPACE …`). Root only.

use std::net::Ipv4Addr;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::LaunchError;

/// A host namespace and its cable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsHost {
    /// The front port (`0/N`) it is cabled to.
    pub port: u8,
    /// The namespace (`ip netns exec NAME …`).
    pub namespace: String,
    /// The veth end in the root namespace: the dataplane's `afpacket` port.
    pub port_if: String,
    /// The veth end in the host's namespace.
    pub host_if: String,
    /// The host's address (`10.0.UNIT.PORT/16`).
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// For a NIC of a dual-homed server: which (0 = `eth0`, 1 = `eth1`); its namespace holds
    /// both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_nic: Option<u8>,
}

impl NetnsHost {
    /// The host on front port `port` of `unit` of the stack whose names carry `tag` (unique
    /// per stack, e.g. from its loopback /24).
    pub fn new(tag: &str, unit: u8, port: u8) -> NetnsHost {
        NetnsHost {
            port,
            namespace: format!("stack-sim-{tag}-u{unit}h{port}"),
            // Interface names: at most 15 bytes.
            port_if: format!("ss{tag}u{unit}p{port}"),
            host_if: "eth0".into(),
            addr: Ipv4Addr::new(10, 0, unit, port),
            prefix: 16,
            server_nic: None,
        }
    }

    /// NIC `nic` (0 or 1) of dual-homed server `server` (1..), cabled to front port `port` of
    /// its unit: namespace `stack-sim-TAG-srvN`, interface `ethNIC`, address
    /// `10.0.(100+N).(NIC+1)/16`.
    pub fn server(tag: &str, server: u8, nic: u8, port: u8) -> NetnsHost {
        NetnsHost {
            port,
            namespace: format!("stack-sim-{tag}-srv{server}"),
            port_if: format!("ss{tag}s{server}n{nic}"),
            host_if: format!("eth{nic}"),
            addr: Ipv4Addr::new(10, 0, 100 + server, nic + 1),
            prefix: 16,
            server_nic: Some(nic),
        }
    }

    /// Creates the namespace and its veth, addressed and up, IPv6 off (no router
    /// solicitations in the counters).
    pub fn create(&self) -> Result<(), LaunchError> {
        // A dual-homed server's second NIC goes into the namespace its first one made.
        if self.server_nic != Some(1) {
            ip(&["netns", "add", &self.namespace])?;
        }
        ip(&[
            "link",
            "add",
            &self.port_if,
            "type",
            "veth",
            "peer",
            "name",
            &self.host_if,
            "netns",
            &self.namespace,
        ])?;
        let v6 = |dev: &str| format!("net.ipv6.conf.{dev}.disable_ipv6=1");
        run("sysctl", &["-qw", &v6(&self.port_if)])?;
        ip(&[
            "netns",
            "exec",
            &self.namespace,
            "sysctl",
            "-qw",
            &v6(&self.host_if),
        ])?;
        ip(&["link", "set", &self.port_if, "up"])?;
        ip(&["-n", &self.namespace, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &self.namespace,
            "addr",
            "add",
            &format!("{}/{}", self.addr, self.prefix),
            "dev",
            &self.host_if,
        ])?;
        ip(&["-n", &self.namespace, "link", "set", &self.host_if, "up"])?;
        if let Some(nic) = self.server_nic {
            self.route_by_source(nic)?;
        }
        Ok(())
    }

    /// A host with two NICs in one subnet, each with its own address: each NIC answers ARP
    /// only for its own address, and what is sent from an address leaves by its NIC (a
    /// routing table per NIC, chosen by source address), so both links carry traffic.
    fn route_by_source(&self, nic: u8) -> Result<(), LaunchError> {
        let ns = &self.namespace;
        for (key, value) in [("arp_ignore", "1"), ("arp_announce", "2")] {
            for dev in ["all", self.host_if.as_str()] {
                ip(&[
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv4.conf.{dev}.{key}={value}"),
                ])?;
            }
        }
        let table = (100 + u32::from(nic)).to_string();
        let addr = self.addr.to_string();
        let subnet = format!("10.0.0.0/{}", self.prefix);
        ip(&[
            "-n",
            ns,
            "route",
            "add",
            &subnet,
            "dev",
            &self.host_if,
            "src",
            &addr,
            "table",
            &table,
        ])?;
        ip(&["-n", ns, "rule", "add", "from", &addr, "lookup", &table])
    }

    /// Deletes the veth and the namespace (whatever of them exists).
    pub fn delete(&self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.port_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.namespace])
            .output();
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<(), LaunchError> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(super::io(format!("run {cmd} {}", args.join(" "))))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LaunchError::Netns(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn ip(args: &[&str]) -> Result<(), LaunchError> {
    run("ip", args)
}

/// Whether this process may create namespaces and open AF_PACKET ports (effective uid 0).
pub use dataplane::backend::running_as_root;
