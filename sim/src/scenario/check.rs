//! Checking the values of a scenario file against the stack it describes, with every error at
//! its line and column.

use std::ops::Range;
use std::path::Path;

use toml::{Spanned, Value};

use super::{LinkRef, MasterRef, ScenarioError, UnitRef};
use crate::traffic::HostId;

/// Checks a scenario against its source, turning spans into lines.
pub(super) struct Checker<'a> {
    pub(super) path: &'a Path,
    pub(super) src: &'a str,
    pub(super) units: u8,
    pub(super) hosts_per_unit: u8,
    /// Named hosts (`[[host]]`) and their NICs.
    pub(super) named: Vec<(String, Vec<HostId>)>,
}

pub(super) type R<T> = Result<T, ScenarioError>;

impl Checker<'_> {
    pub(super) fn err(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let (line, column) = line_col(self.src, span.start);
        ScenarioError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// `v` when it lies in `range`, `default` when it is absent, else an error at it that
    /// names `what` and the range (e.g. `rate_fps: 0: expected 1 to 200000`).
    pub(super) fn within<T>(
        &self,
        v: &Option<Spanned<T>>,
        what: &str,
        range: std::ops::RangeInclusive<T>,
        default: T,
    ) -> R<T>
    where
        // Debug: floats keep their point (`1.0`), integers print as Display does.
        T: PartialOrd + Copy + std::fmt::Debug,
    {
        match v {
            None => Ok(default),
            Some(s) if range.contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => Err(self.err(
                s.span(),
                format!(
                    "{what}: {:?}: expected {:?} to {:?}",
                    s.get_ref(),
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    pub(super) fn unit(&self, v: &Spanned<u8>, what: &str) -> R<u8> {
        let u = *v.get_ref();
        if !(1..=self.units).contains(&u) {
            return Err(self.err(
                v.span(),
                format!(
                    "{what}: {u}: expected a unit of this stack, 1 to {}",
                    self.units
                ),
            ));
        }
        Ok(u)
    }

    pub(super) fn host(&self, span: Range<usize>, v: &Value, what: &str) -> R<HostId> {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            other => {
                return Err(self.err(
                    span,
                    format!(
                        "{what}: expected a host \"UNIT/PORT\", found {}",
                        other.type_str()
                    ),
                ))
            }
        };
        let h: HostId = text
            .parse()
            .map_err(|e: String| self.err(span.clone(), format!("{what}: {e}")))?;
        if h.unit > self.units || h.port > self.hosts_per_unit {
            return Err(self.err(
                span,
                format!(
                    "{what}: no host {h} (units 1..={}, hosts 1..={} per unit)",
                    self.units, self.hosts_per_unit
                ),
            ));
        }
        Ok(h)
    }

    /// One host's NICs: a `[[host]]` name, or `UNIT/PORT`.
    pub(super) fn nics(&self, span: Range<usize>, v: &Value, what: &str) -> R<Vec<HostId>> {
        if let Value::String(s) = v {
            if let Some((_, nics)) = self.named.iter().find(|(n, _)| n == s) {
                return Ok(nics.clone());
            }
        }
        Ok(vec![self.host(span, v, what)?])
    }

    /// The NICs of one host or a list of hosts.
    pub(super) fn hosts(&self, v: &Spanned<Value>, what: &str) -> R<Vec<HostId>> {
        match v.get_ref() {
            Value::Array(items) => {
                let mut all = Vec::new();
                for i in items {
                    all.extend(self.nics(v.span(), i, what)?);
                }
                Ok(all)
            }
            one => self.nics(v.span(), one, what),
        }
    }

    pub(super) fn unit_ref(&self, v: &Spanned<Value>) -> R<UnitRef> {
        match v.get_ref() {
            Value::String(s) if s == "master" => Ok(UnitRef::Master),
            Value::String(s) if s == "standby" => Ok(UnitRef::Standby),
            Value::String(s) if s == "initial-master" => Ok(UnitRef::InitialMaster),
            Value::String(s) if s == "initial-standby" => Ok(UnitRef::InitialStandby),
            Value::String(s) if s == "random" => Ok(UnitRef::Random),
            Value::Integer(i) => {
                let u = u8::try_from(*i).unwrap_or(0);
                Ok(UnitRef::Number(
                    self.unit(&Spanned::new(v.span(), u), "unit")?,
                ))
            }
            _ => Err(self.err(
                v.span(),
                format!(
                    "unit: expected a unit number (1 to {}), \"master\", \"standby\", \"initial-master\", \"initial-standby\" or \"random\"",
                    self.units
                ),
            )),
        }
    }

    pub(super) fn master_ref(&self, v: &Spanned<Value>, what: &str) -> R<MasterRef> {
        match v.get_ref() {
            Value::String(s) if s == "initial-master" => Ok(MasterRef::InitialMaster),
            Value::String(s) if s == "initial-standby" => Ok(MasterRef::InitialStandby),
            Value::Integer(i) => {
                let u = u8::try_from(*i).unwrap_or(0);
                Ok(MasterRef::Number(self.unit(&Spanned::new(v.span(), u), what)?))
            }
            _ => Err(self.err(
                v.span(),
                format!(
                    "{what}: expected a unit number (1 to {}), \"initial-master\" or \"initial-standby\"",
                    self.units
                ),
            )),
        }
    }

    pub(super) fn link(&self, v: &Spanned<String>, index: Option<u8>) -> R<LinkRef> {
        let bad = || {
            self.err(
                v.span(),
                format!(
                    "link: '{}': expected two neighbouring units, e.g. \"1-2\"",
                    v.get_ref()
                ),
            )
        };
        let (a, b) = v.get_ref().split_once('-').ok_or_else(bad)?;
        let a: u8 = a.trim().parse().map_err(|_| bad())?;
        let b: u8 = b.trim().parse().map_err(|_| bad())?;
        let a = self.unit(&Spanned::new(v.span(), a), "link")?;
        let b = self.unit(&Spanned::new(v.span(), b), "link")?;
        if a == b {
            return Err(bad());
        }
        Ok(LinkRef { a, b, index })
    }

    pub(super) fn units_list(&self, v: &[Spanned<u8>], what: &str) -> R<Vec<u8>> {
        v.iter().map(|u| self.unit(u, what)).collect()
    }
}

/// Line and column (1-based) of byte `offset` in `src`.
pub(super) use dataplane::daemon::config::line_col;
