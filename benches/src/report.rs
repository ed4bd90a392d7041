//! JSON lines with their fields in the order they were added (serde_json's own map sorts them).

use std::fmt;

use serde_json::Value;

/// One JSON object, printed on one line.
#[derive(Debug, Default, Clone)]
pub(crate) struct JsonLine {
    fields: Vec<(&'static str, Value)>,
}

impl JsonLine {
    /// An empty object.
    pub(crate) fn new() -> Self {
        JsonLine::default()
    }

    /// Adds field `key`.
    pub(crate) fn field(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push((key, value.into()));
        self
    }

    /// Adds field `key`, a number rounded to `decimals` places (`null` when not finite).
    pub(crate) fn number(self, key: &'static str, value: f64, decimals: i32) -> Self {
        self.field(key, rounded(value, decimals))
    }

    /// Adds field `key` when `value` is some.
    pub(crate) fn field_opt(self, key: &'static str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(value) => self.field(key, value),
            None => self,
        }
    }

    /// Prints the line on stdout.
    pub(crate) fn print(&self) {
        println!("{self}");
    }
}

/// `value` rounded to `decimals` places (an integer for 0), `null` when not finite.
pub(crate) fn rounded(value: f64, decimals: i32) -> Value {
    if decimals <= 0 && value.is_finite() && value.abs() < 9e15 {
        return Value::from(value.round() as i64);
    }
    let scale = 10f64.powi(decimals);
    serde_json::Number::from_f64((value * scale).round() / scale)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

impl fmt::Display for JsonLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (key, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{value}", Value::from(*key))?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_order_and_numbers_are_rounded() {
        let line = JsonLine::new()
            .field("workload", "stream_count")
            .number("seconds", 1.23456, 3)
            .number("ratio", f64::NAN, 3)
            .number("records_per_s", 1234.6, 0)
            .field_opt("absent", None::<u64>)
            .field("records", 10u64);
        assert_eq!(
            line.to_string(),
            r#"{"workload":"stream_count","seconds":1.235,"ratio":null,"records_per_s":1235,"records":10}"#
        );
    }
}
