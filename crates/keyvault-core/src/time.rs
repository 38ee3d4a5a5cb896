//! Points in time, always passed in by the caller.
//!
//! keyvault-core never reads a clock: every rule that depends on time takes a [`Timestamp`]
//! argument, so tests can place "now" anywhere and the store decides where the time comes from.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (1970-01-01T00:00:00Z), UTC, leap seconds ignored.
///
/// Millisecond resolution orders audit events finely enough for people; the sequence number of
/// the audit chain, not the time, is what orders records.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The instant `millis` milliseconds after the Unix epoch.
    #[must_use]
    pub const fn from_unix_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    /// The instant `secs` seconds after the Unix epoch, saturating at the largest timestamp.
    #[must_use]
    pub const fn from_unix_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    #[must_use]
    pub const fn as_unix_millis(self) -> u64 {
        self.0
    }

    /// Convert a [`SystemTime`] the caller has read; `None` before the epoch or past `u64`
    /// milliseconds.
    #[must_use]
    pub fn from_system_time(time: SystemTime) -> Option<Self> {
        let since = time.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        u64::try_from(since.as_millis()).ok().map(Timestamp)
    }

    /// This instant as a [`SystemTime`], or `None` if the platform cannot represent it.
    #[must_use]
    pub fn to_system_time(self) -> Option<SystemTime> {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(self.0))
    }

    /// `self + duration`, or `None` on overflow. Sub-millisecond parts of `duration` are dropped.
    #[must_use]
    pub fn checked_add(self, duration: Duration) -> Option<Self> {
        let millis = u64::try_from(duration.as_millis()).ok()?;
        self.0.checked_add(millis).map(Timestamp)
    }

    /// `self + duration`, saturating at the largest timestamp.
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        self.checked_add(duration).unwrap_or(Timestamp(u64::MAX))
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is not earlier.
    #[must_use]
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-03-01T12:00:00.000Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0 % 1000;
        let secs = self.0 / 1000;
        let (days, secs_of_day) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            secs_of_day / 3600,
            secs_of_day % 3600 / 60,
            secs_of_day % 60
        )
    }
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01, after Howard
/// Hinnant's `civil_from_days`, restricted to non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_rfc3339() {
        assert_eq!(
            Timestamp::UNIX_EPOCH.to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(951_782_400_123).to_string(),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            Timestamp::from_unix_secs(1_767_225_599).to_string(),
            "2025-12-31T23:59:59.000Z"
        );
        // The largest value formats without overflow.
        assert!(
            Timestamp::from_unix_millis(u64::MAX)
                .to_string()
                .ends_with('Z')
        );
    }

    #[test]
    fn arithmetic_saturates_or_reports_overflow() {
        let t = Timestamp::from_unix_millis(u64::MAX - 1);
        assert_eq!(t.checked_add(Duration::from_millis(2)), None);
        assert_eq!(
            t.saturating_add(Duration::from_secs(1)).as_unix_millis(),
            u64::MAX
        );
        assert_eq!(Timestamp::UNIX_EPOCH.saturating_since(t), Duration::ZERO);
    }

    #[test]
    fn system_time_round_trip() {
        let t = Timestamp::from_unix_millis(1_700_000_000_123);
        let system = t.to_system_time().unwrap();
        assert_eq!(Timestamp::from_system_time(system), Some(t));
    }
}
