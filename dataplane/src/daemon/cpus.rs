//! Which CPUs `dataplaned`'s threads run on.
//!
//! A switch keeps its forwarding off the CPUs its control software runs on: the forwarding
//! thread gets a CPU of its own (`forwarding`), the gRPC threads share the control plane's
//! (`control`). Besides keeping control work from delaying frames, a control plane and the
//! gRPC threads it talks to on the same CPU answer each other without a cross-CPU wake-up,
//! the largest part of a unary round trip on a VM (BENCHMARKS.md, "gRPC").
//!
//! CPU sets are written as Linux writes them (`Cpus_allowed_list`, `taskset -c`): `0`,
//! `0-3`, `0,2,4-5`.

use std::fmt;

use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

/// A set of CPUs, by number, sorted and without repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(Vec<usize>);

impl CpuList {
    /// Parses `0`, `0-3`, `0,2,4-5`. Errors say which part is wrong.
    pub fn parse(s: &str) -> Result<CpuList, String> {
        let mut cpus = Vec::new();
        for part in s.split(',').map(str::trim) {
            let number = |n: &str| {
                n.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|c| *c < CpuSet::MAX_CPU)
                    .ok_or_else(|| {
                        format!(
                        "'{n}' in '{s}' is not a CPU number (0..{}); expected e.g. 0, 0-3 or 0,2",
                        CpuSet::MAX_CPU
                    )
                    })
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (number(a)?, number(b)?);
                    if a > b {
                        return Err(format!("'{part}' in '{s}' is an empty range"));
                    }
                    cpus.extend(a..=b);
                }
                None => cpus.push(number(part)?),
            }
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(CpuList(cpus))
    }

    /// One CPU.
    pub fn one(cpu: usize) -> CpuList {
        CpuList(vec![cpu])
    }

    /// The CPUs, ascending.
    pub fn cpus(&self) -> &[usize] {
        &self.0
    }

    /// The CPUs this process may run on now (its affinity, e.g. under `taskset`).
    pub fn available() -> std::io::Result<CpuList> {
        let set = sched_getaffinity(None)?;
        Ok(CpuList(
            (0..CpuSet::MAX_CPU).filter(|c| set.is_set(*c)).collect(),
        ))
    }

    /// The first CPU of this list that is not in `available`, if any.
    pub fn first_missing_from(&self, available: &CpuList) -> Option<usize> {
        self.0
            .iter()
            .copied()
            .find(|c| available.0.binary_search(c).is_err())
    }

    /// Restricts the calling thread (and the threads it starts later) to these CPUs.
    pub fn pin_current_thread(&self) -> std::io::Result<()> {
        let mut set = CpuSet::new();
        for c in &self.0 {
            set.set(*c);
        }
        Ok(sched_setaffinity(None, &set)?)
    }
}

impl fmt::Display for CpuList {
    /// Ranges where CPUs follow each other: `0-3,6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        while i < self.0.len() {
            let start = self.0[i];
            while i + 1 < self.0.len() && self.0[i + 1] == self.0[i] + 1 {
                i += 1;
            }
            if start != self.0[0] {
                f.write_str(",")?;
            }
            if self.0[i] == start {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{}", self.0[i])?;
            }
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_print_as_linux_writes_them() {
        let l = CpuList::parse("4-5, 0,2,2").unwrap();
        assert_eq!(l.cpus(), &[0, 2, 4, 5]);
        assert_eq!(l.to_string(), "0,2,4-5");
        assert_eq!(CpuList::parse("0-3").unwrap().to_string(), "0-3");
        assert_eq!(CpuList::one(7).to_string(), "7");
        for bad in ["", "a", "1-", "3-1", "0,,1", "99999"] {
            assert!(CpuList::parse(bad).is_err(), "{bad}");
        }
        assert!(CpuList::parse("3-1").unwrap_err().contains("empty range"));
    }

    #[test]
    fn missing_cpus_are_found() {
        let avail = CpuList::parse("0-1").unwrap();
        assert_eq!(
            CpuList::parse("1").unwrap().first_missing_from(&avail),
            None
        );
        assert_eq!(
            CpuList::parse("0,3").unwrap().first_missing_from(&avail),
            Some(3)
        );
        let here = CpuList::available().unwrap();
        assert!(!here.cpus().is_empty());
    }
}
