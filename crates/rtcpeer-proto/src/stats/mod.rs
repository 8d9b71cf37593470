//! `getStats()`: the report types of W3C webrtc-stats and their JSON.
//!
//! A [`StatsReport`] maps ids to [`Stats`] objects. Every object has an `id`, a
//! `timestamp` (milliseconds since the UNIX epoch; the sans-IO core has no wallclock, so
//! the caller passes it in) and a typed body, [`StatsKind`], one variant per stats type
//! (`"transport"`, `"candidate-pair"`, `"inbound-rtp"`, …). Objects refer to each other
//! by id (`transportId`, `codecId`, `localId`, …); [`StatsKind::references`] lists them.
//!
//! Only fields the connection measures are filled: an unknown value is left out (it
//! serializes as an absent member), never invented.
//!
//! [`StatsReport::to_json`] gives what a browser's
//! `JSON.stringify(Object.fromEntries(await pc.getStats()))` gives: one object keyed by id,
//! with camelCase members.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod types;

pub use types::*;

/// One stats object: its id, when it was taken, and its typed fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The id other objects refer to it by; unique within a report and stable across reports.
    pub id: String,
    /// When the object was sampled, in milliseconds since the UNIX epoch.
    pub timestamp: f64,
    /// The type (`type` in JSON) and the fields of that type.
    #[serde(flatten)]
    pub kind: StatsKind,
}

/// An `RTCStatsReport`: stats objects by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsReport {
    entries: BTreeMap<String, Stats>,
}

impl StatsReport {
    /// An empty report.
    pub fn new() -> Self {
        StatsReport::default()
    }

    /// Adds an object, replacing any with the same id.
    pub fn insert(&mut self, stats: Stats) {
        self.entries.insert(stats.id.clone(), stats);
    }

    /// The object with this id.
    pub fn get(&self, id: &str) -> Option<&Stats> {
        self.entries.get(id)
    }

    /// Every object, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Stats> {
        self.entries.values()
    }

    /// The objects of one type.
    pub fn of_type(&self, kind: StatsType) -> impl Iterator<Item = &Stats> {
        self.entries.values().filter(move |s| s.kind.stats_type() == kind)
    }

    /// How many objects the report holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the report holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The ids objects refer to that the report does not hold (empty for a consistent report).
    pub fn dangling_references(&self) -> Vec<String> {
        self.entries
            .values()
            .flat_map(|s| s.kind.references())
            .filter(|id| !self.entries.contains_key(*id))
            .map(str::to_string)
            .collect()
    }

    /// The report restricted to the objects `roots` names and, transitively, everything they
    /// refer to (the stats selection algorithm of webrtc-pc §8.5).
    pub fn select(&self, roots: impl IntoIterator<Item = String>) -> StatsReport {
        let mut selected = StatsReport::new();
        let mut pending: Vec<String> = roots.into_iter().collect();
        while let Some(id) = pending.pop() {
            if selected.entries.contains_key(&id) {
                continue;
            }
            let Some(stats) = self.entries.get(&id) else {
                continue;
            };
            pending.extend(stats.kind.references().into_iter().map(str::to_string));
            selected.insert(stats.clone());
        }
        selected
    }

    /// The report as a JSON value: an object keyed by id.
    pub fn to_json_value(&self) -> serde_json::Value {
        let map = self
            .entries
            .iter()
            .map(|(id, s)| (id.clone(), serde_json::to_value(s).unwrap_or(serde_json::Value::Null)))
            .collect();
        serde_json::Value::Object(map)
    }

    /// The report as JSON text, shaped as `JSON.stringify(Object.fromEntries(report))`.
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }

    /// Reads a report back from [`to_json`](Self::to_json)'s shape.
    pub fn from_json(text: &str) -> Result<StatsReport, serde_json::Error> {
        let map: BTreeMap<String, Stats> = serde_json::from_str(text)?;
        Ok(StatsReport { entries: map })
    }
}

impl<'a> IntoIterator for &'a StatsReport {
    type Item = &'a Stats;
    type IntoIter = std::collections::btree_map::Values<'a, String, Stats>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.values()
    }
}

#[cfg(test)]
mod tests;
