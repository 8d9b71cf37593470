//! One benchmark's result, and how it is shown: a table row or one JSON line.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

/// What a comparison run gave: a number in the benchmark's unit, or why it did not run.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    /// Measured, in the same unit as the benchmark's own value.
    Value(f64),
    /// Not measured; the text says why (for example "benches/peers not built").
    Skipped(String),
}

/// The result of one benchmark: rtcpeer's number and, by name, the numbers it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    /// The benchmark's name, for example `datachannel-64k`.
    pub bench: String,
    /// rtcpeer's value.
    pub value: f64,
    /// The unit of `value` and of every comparison.
    pub unit: &'static str,
    /// Other stacks or baselines (`raw-udp`, `webrtc`, `str0m`, `bare-crypto`), in the order shown.
    pub compare: Vec<(&'static str, Comparison)>,
}

impl BenchResult {
    /// A result with no comparison yet.
    pub fn new(bench: impl Into<String>, value: f64, unit: &'static str) -> Self {
        BenchResult {
            bench: bench.into(),
            value,
            unit,
            compare: Vec::new(),
        }
    }

    /// Adds a comparison.
    pub fn with(mut self, name: &'static str, comparison: Comparison) -> Self {
        self.compare.push((name, comparison));
        self
    }

    /// The JSON line: `{"bench":..,"value":..,"unit":..,"compare":{name: value}}`, and, when some
    /// comparison did not run, `"skipped":{name: reason}`. Values are rounded to 3 significant decimals.
    pub fn json_line(&self) -> String {
        let mut compare = Map::new();
        let mut skipped = Map::new();
        for (name, comparison) in &self.compare {
            match comparison {
                Comparison::Value(v) => compare.insert((*name).to_owned(), number(*v)),
                Comparison::Skipped(why) => skipped.insert((*name).to_owned(), Value::String(why.clone())),
            };
        }
        let mut line = json!({
            "bench": self.bench,
            "value": number(self.value),
            "unit": self.unit,
            "compare": compare,
        });
        if !skipped.is_empty() {
            line["skipped"] = Value::Object(skipped);
        }
        line.to_string()
    }

    /// One row of the text table: name, value, then each comparison with rtcpeer's ratio to it.
    pub fn table_row(&self) -> String {
        let mut row = format!("{:<34} {:>12} {:<9}", self.bench, format_value(self.value), self.unit);
        for (name, comparison) in &self.compare {
            match comparison {
                Comparison::Value(v) if *v > 0.0 => {
                    let _ = write!(row, "  {name} {} (x{:.2})", format_value(*v), self.value / v);
                }
                Comparison::Value(v) => {
                    let _ = write!(row, "  {name} {}", format_value(*v));
                }
                Comparison::Skipped(why) => {
                    let _ = write!(row, "  {name} skipped: {why}");
                }
            }
        }
        row
    }
}

/// Rounds to three decimals so the JSON stays readable; non-finite values become `null`.
fn number(v: f64) -> Value {
    let rounded = (v * 1000.0).round() / 1000.0;
    serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number)
}

fn format_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_bench_value_unit_and_compare() {
        let result = BenchResult::new("datachannel-64k", 31.4159, "MB/s")
            .with("raw-udp", Comparison::Value(250.0))
            .with("webrtc", Comparison::Value(12.0))
            .with("str0m", Comparison::Skipped("not built".into()));
        let line = result.json_line();
        assert!(!line.contains('\n'));
        let parsed: Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(parsed["bench"], "datachannel-64k");
        assert_eq!(parsed["value"], 31.416);
        assert_eq!(parsed["unit"], "MB/s");
        assert_eq!(parsed["compare"]["raw-udp"], 250.0);
        assert_eq!(parsed["compare"]["webrtc"], 12.0);
        assert!(parsed["compare"].get("str0m").is_none());
        assert_eq!(parsed["skipped"]["str0m"], "not built");
    }

    #[test]
    fn json_line_without_skips_has_no_skipped_key() {
        let line = BenchResult::new("srtp-protect", 250.0, "ns/packet")
            .with("bare-crypto", Comparison::Value(200.0))
            .json_line();
        let parsed: Value = serde_json::from_str(&line).expect("valid JSON");
        assert!(parsed.get("skipped").is_none());
        assert_eq!(parsed["compare"].as_object().map(|o| o.len()), Some(1));
    }

    #[test]
    fn table_row_shows_the_ratio_to_each_comparison() {
        let row = BenchResult::new("datachannel-64k", 30.0, "MB/s")
            .with("webrtc", Comparison::Value(15.0))
            .with("str0m", Comparison::Skipped("no cargo".into()))
            .table_row();
        assert!(row.contains("webrtc 15.00 (x2.00)"), "{row}");
        assert!(row.contains("str0m skipped: no cargo"), "{row}");
    }
}
