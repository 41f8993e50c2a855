//! Proton's timestamp: epoch seconds, written as a JSON number.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time as seconds since the Unix epoch, fractions allowed, as awsJson1_0 writes
/// timestamps (`1700000000.123`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Timestamp(f64);

impl Timestamp {
    /// The current time, to the millisecond.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let millis = i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX);
        Self::from_unix_millis(millis)
    }

    /// The time `millis` milliseconds after the Unix epoch.
    pub fn from_unix_millis(millis: i64) -> Self {
        Timestamp(millis as f64 / 1000.0)
    }

    /// The time `seconds` seconds after the Unix epoch.
    pub fn from_secs_f64(seconds: f64) -> Self {
        Timestamp(seconds)
    }

    /// Milliseconds since the Unix epoch, rounded to the nearest.
    pub fn as_unix_millis(self) -> i64 {
        // A float-to-int `as` saturates, which is the right answer for absurd timestamps.
        (self.0 * 1000.0).round() as i64
    }

    /// Seconds since the Unix epoch.
    pub fn as_secs_f64(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Timestamp {
    /// Whole seconds are written without a fraction (`1700000000`), as AWS does.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let whole = self.0.fract() == 0.0 && self.0.abs() < 1e15;
        if whole {
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn millis_round_trip() {
        let t = Timestamp::from_unix_millis(1_700_000_000_123);
        assert_eq!(t.as_unix_millis(), 1_700_000_000_123);
        assert_eq!(serde_json::to_string(&t).unwrap(), "1700000000.123");
    }

    #[test]
    fn whole_seconds_are_written_as_integers() {
        let t = Timestamp::from_unix_millis(1_700_000_000_000);
        assert_eq!(serde_json::to_string(&t).unwrap(), "1700000000");
        let back: Timestamp = serde_json::from_str("1700000000").unwrap();
        assert_eq!(back, t);
    }
}
