//! Times and durations as people type them, and the clock the CLI reads.
//!
//! Accepted times: RFC 3339 (`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00.250+02:00`), a bare
//! date (`2026-03-01`, midnight UTC), `now`, a time relative to now (`+30d`, `-12h`, `now+1w`),
//! and Unix seconds (`@1767225600`). Accepted durations: a number with a unit (`90d`, `12h`,
//! `30m`, `45s`, `2w`), several of them (`1d12h`), or plain seconds.

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

/// Parse an absolute time: RFC 3339, a bare date, or `@` Unix seconds.
fn parse_absolute(text: &str) -> Result<Timestamp, String> {
    let expected = || {
        format!(
            "{text:?} is not a time: use RFC 3339 (2026-03-01T12:00:00Z), a date (2026-03-01), \
             now, +30d / -12h relative to now, or @UNIX-SECONDS"
        )
    };
    if let Some(secs) = text.strip_prefix('@') {
        return secs
            .parse::<u64>()
            .map(Timestamp::from_unix_secs)
            .map_err(|_| expected());
    }
    let bytes = text.as_bytes();
    let date = text.get(..10).ok_or_else(expected)?;
    let days = parse_date(date).ok_or_else(expected)?;
    let mut millis = days.checked_mul(86_400_000).ok_or_else(expected)?;
    if bytes.len() == 10 {
        return Ok(Timestamp::from_unix_millis(millis));
    }
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return Err(expected());
    }
    let rest = text.get(11..).ok_or_else(expected)?;
    let (clock, offset) = split_offset(rest).ok_or_else(expected)?;
    millis = millis
        .checked_add(parse_clock(clock).ok_or_else(expected)?)
        .ok_or_else(expected)?;
    let millis = if offset >= 0 {
        millis.checked_sub(offset.unsigned_abs())
    } else {
        millis.checked_add(offset.unsigned_abs())
    }
    .ok_or_else(expected)?;
    Ok(Timestamp::from_unix_millis(millis))
}

/// Days since 1970-01-01 of `YYYY-MM-DD` (years 1970 and later).
fn parse_date(text: &str) -> Option<u64> {
    let mut parts = text.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let year: u64 = digits(year)?;
    let month: u64 = digits(month)?;
    let day: u64 = digits(day)?;
    if year < 1970 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Howard Hinnant's days_from_civil, for non-negative results.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let year_of_era = y - era * 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).checked_sub(719_468)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Split `HH:MM[:SS[.fff]]` from its zone: `Z`, `+HH:MM`, `-HH:MM`, or none (UTC). The offset
/// is returned in milliseconds east of UTC.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(clock) = text.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let sign_at = text.rfind(['+', '-']);
    let Some(at) = sign_at else {
        return Some((text, 0));
    };
    let (clock, zone) = text.split_at(at);
    let sign: i64 = if zone.starts_with('-') { -1 } else { 1 };
    let zone = zone.get(1..)?;
    let (hours, minutes) = zone.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: i64 = digits(hours)?;
    let minutes: i64 = digits(minutes)?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((clock, sign * (hours * 3600 + minutes * 60) * 1000))
}

/// Milliseconds into the day of `HH:MM[:SS[.fff]]`.
fn parse_clock(text: &str) -> Option<u64> {
    let (main, fraction) = match text.split_once('.') {
        Some((main, fraction)) => (main, Some(fraction)),
        None => (text, None),
    };
    let mut parts = main.split(':');
    let hours: u64 = two_digits(parts.next()?)?;
    let minutes: u64 = two_digits(parts.next()?)?;
    let seconds: u64 = match parts.next() {
        Some(seconds) => two_digits(seconds)?,
        None => 0,
    };
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    let millis = match fraction {
        None => 0,
        Some(fraction) if !fraction.is_empty() && fraction.len() <= 9 => {
            let padded = format!("{fraction:0<3}");
            digits::<u64>(padded.get(..3)?)?
        }
        Some(_) => return None,
    };
    Some(((hours * 60 + minutes) * 60 + seconds.min(59)) * 1000 + millis)
}

fn two_digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    (text.len() == 2).then_some(())?;
    digits(text)
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
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(expected()),
        };
        let value: u64 = digits(&number).ok_or_else(expected)?;
        total = value
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(expected)?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(expected());
    }
    Ok(Duration::from_secs(total))
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
        for text in [
            "2023-02-29",
            "2026-13-01",
            "yesterday",
            "2026-03-01T25:00:00Z",
        ] {
            let err = parse_timestamp(text).unwrap_err();
            assert!(err.contains("is not a time"), "{err}");
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
        for text in ["12x", "h", "12h3"] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("is not a duration"), "{err}");
        }
        assert_eq!(format_duration(Duration::from_secs(90 * 86_400)), "90d");
        assert_eq!(format_duration(Duration::from_secs(14 * 86_400)), "2w");
        assert_eq!(format_duration(Duration::from_secs(36 * 3600)), "36h");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
    }
}
