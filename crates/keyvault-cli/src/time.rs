//! Times and durations as people type them, and the clock the CLI reads.
//!
//! Accepted times: RFC 3339 (`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00.250+02:00`), a bare
//! date (`2026-03-01`, midnight UTC), `now`, a time relative to now (`+30d`, `-12h`, `now+1w`),
//! and Unix seconds (`@1767225600`). Accepted durations: a number with a unit (`90d`, `12h`,
//! `30m`, `45s`, `2w`), several of them (`1d12h`, `2 weeks`), or plain seconds. The calendar
//! arithmetic and the grammar of times and durations are jiff's.

use std::time::{Duration, SystemTime};

use keyvault_core::Timestamp;

/// The hidden testing variable that fixes the clock (see docs/CLI.md, "Testing knobs").
pub(crate) const TEST_NOW_ENV: &str = "KEYVAULT_TEST_NOW";

/// The current time: the system clock, or the fixed time of `KEYVAULT_TEST_NOW` when set.
pub(crate) fn now() -> Timestamp {
    test_now().unwrap_or_else(system_now)
}

fn system_now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The fixed time of `KEYVAULT_TEST_NOW`, if it is set and parses: an absolute time, or
/// `+DURATION` / `-DURATION` from the system clock. Only builds with debug assertions (the test
/// builds) read it: a release build, as `cargo install` makes, ignores it, so whoever controls
/// the environment of the shipped binary cannot step past a deletion window or backdate events.
pub(crate) fn test_now() -> Option<Timestamp> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let value = std::env::var(TEST_NOW_ENV).ok()?;
    let value = value.trim();
    if let Some(ahead) = value.strip_prefix('+') {
        return system_now().checked_add(parse_duration(ahead).ok()?);
    }
    if let Some(behind) = value.strip_prefix('-') {
        let millis = u64::try_from(parse_duration(behind).ok()?.as_millis()).ok()?;
        return Some(Timestamp::from_unix_millis(
            system_now().as_unix_millis().saturating_sub(millis),
        ));
    }
    parse_absolute(value).ok()
}

/// Parse a point in time (see the module documentation for the forms).
///
/// # Errors
/// A sentence saying what was expected.
pub(crate) fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    parse_timestamp_at(text, now())
}

/// [`parse_timestamp`] with relative times counted from `now`.
fn parse_timestamp_at(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    let relative = text
        .strip_prefix("now")
        .or_else(|| text.strip_prefix("NOW"))
        .unwrap_or(text);
    if let Some(rest) = relative.strip_prefix('+') {
        let duration = parse_duration(rest)?;
        return now
            .checked_add(duration)
            .ok_or_else(|| format!("{text:?} is too far in the future"));
    }
    if let Some(rest) = relative.strip_prefix('-') {
        let duration = parse_duration(rest)?;
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        return Ok(Timestamp::from_unix_millis(
            now.as_unix_millis().saturating_sub(millis),
        ));
    }
    parse_absolute(text)
}

/// Parse an absolute time: RFC 3339, a bare date, or `@` Unix seconds. RFC 3339 without an
/// offset, and a bare date (midnight), are UTC. Times before 1970 are refused.
fn parse_absolute(text: &str) -> Result<Timestamp, String> {
    let expected = || {
        format!(
            "{text:?} is not a time: use RFC 3339 (2026-03-01T12:00:00Z), a date (2026-03-01), \
             now, +30d / -12h relative to now, or @UNIX-SECONDS"
        )
    };
    if let Some(secs) = text.strip_prefix('@') {
        return digits::<u64>(secs)
            .map(Timestamp::from_unix_secs)
            .ok_or_else(expected);
    }
    let instant = text
        .parse::<jiff::Timestamp>()
        .or_else(|_| {
            // No offset: a civil date-time (or a date, at midnight) read as UTC.
            text.parse::<jiff::civil::DateTime>()
                .and_then(|civil| civil.to_zoned(jiff::tz::TimeZone::UTC))
                .map(|zoned| zoned.timestamp())
        })
        .map_err(|_| expected())?;
    let millis = u64::try_from(instant.as_millisecond()).map_err(|_| expected())?;
    Ok(Timestamp::from_unix_millis(millis))
}

fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parse a duration: `90d`, `12h`, `30m`, `45s`, `2w`, combinations such as `1d12h`, or plain
/// seconds.
///
/// # Errors
/// A sentence saying what was expected.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let expected = || {
        format!(
            "{text:?} is not a duration: use a number with a unit s, m, h, d or w (90d, 12h, 1d12h)"
        )
    };
    if text.is_empty() {
        return Err(expected());
    }
    if let Some(secs) = digits::<u64>(text) {
        return Ok(Duration::from_secs(secs));
    }
    // jiff's friendly format (`90d`, `1d12h`, `2 weeks`), with days and weeks of 24 hours: a
    // policy's period does not stretch with daylight-saving changes. Negative spans and
    // fractions of a second are refused.
    let span: jiff::Span = text.parse().map_err(|_| expected())?;
    let signed = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| expected())?;
    match Duration::try_from(signed) {
        Ok(duration) if duration.subsec_nanos() == 0 => Ok(duration),
        _ => Err(expected()),
    }
}

/// A duration in the largest units that divide it exactly: `90d`, `36h`, `1w`, `45s`.
pub(crate) fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_rfc3339_and_dates() {
        let t = parse_timestamp("2026-03-01T12:00:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-03-01T12:00:00.000Z");
        let t = parse_timestamp("2026-03-01T12:00:00.25+02:00").unwrap();
        assert_eq!(t.to_string(), "2026-03-01T10:00:00.250Z");
        let t = parse_timestamp("2024-02-29").unwrap();
        assert_eq!(t.to_string(), "2024-02-29T00:00:00.000Z");
        let t = parse_timestamp("@951782400").unwrap();
        assert_eq!(t.to_string(), "2000-02-29T00:00:00.000Z");
        let t = parse_timestamp("1999-12-31T23:59:59-00:30").unwrap();
        assert_eq!(t.to_string(), "2000-01-01T00:29:59.000Z");
        for (text, expected) in [
            ("2026-03-01 12:00:00z", "2026-03-01T12:00:00.000Z"),
            ("2026-03-01t12:00:00Z", "2026-03-01T12:00:00.000Z"),
            ("2026-03-01T12:00:00", "2026-03-01T12:00:00.000Z"),
            ("2026-03-01T12:00Z", "2026-03-01T12:00:00.000Z"),
            ("2026-03-01T12:00:00.123456789Z", "2026-03-01T12:00:00.123Z"),
            ("1970-01-01", "1970-01-01T00:00:00.000Z"),
        ] {
            assert_eq!(
                parse_timestamp(text).unwrap().to_string(),
                expected,
                "{text}"
            );
        }
        for text in [
            "2023-02-29",
            "2026-13-01",
            "yesterday",
            "2026-03-01T25:00:00Z",
            "1969-12-31T23:59:59Z",
            "@-1",
            "@12x",
            "",
        ] {
            let err = parse_timestamp(text).unwrap_err();
            assert!(err.contains("is not a time"), "{text}: {err}");
        }
    }

    #[test]
    fn relative_times_move_from_now() {
        let at = Timestamp::from_unix_millis(1_750_000_000_000);
        let parse = |text| parse_timestamp_at(text, at).unwrap().as_unix_millis();
        assert_eq!(parse("now"), 1_750_000_000_000);
        assert_eq!(parse("+1d"), 1_750_000_000_000 + 86_400_000);
        assert_eq!(parse("now+90m"), 1_750_000_000_000 + 5_400_000);
        assert_eq!(parse("now-1h"), 1_750_000_000_000 - 3_600_000);
        assert_eq!(parse("-2w"), 1_750_000_000_000 - 14 * 86_400_000);
        // Far enough back, a relative time stops at the epoch rather than wrapping.
        assert_eq!(
            parse_timestamp_at("-1d", Timestamp::UNIX_EPOCH).unwrap(),
            Timestamp::UNIX_EPOCH
        );
        let err = parse_timestamp_at("+1d", Timestamp::from_unix_millis(u64::MAX)).unwrap_err();
        assert!(err.contains("too far in the future"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("90d").unwrap(),
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(
            parse_duration("1d12h").unwrap(),
            Duration::from_secs(36 * 3600)
        );
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert_eq!(
            parse_duration("2 weeks").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        for text in [
            "12x",
            "h",
            "12h3",
            "",
            "99999999999999999999w",
            "-1d",
            "1.5s",
            "1mo",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("is not a duration"), "{text}: {err}");
        }
        assert_eq!(format_duration(Duration::from_secs(90 * 86_400)), "90d");
        assert_eq!(format_duration(Duration::from_secs(14 * 86_400)), "2w");
        assert_eq!(format_duration(Duration::from_secs(36 * 3600)), "36h");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
    }
}
