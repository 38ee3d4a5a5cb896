//! Release versions: `MAJOR.MINOR.PATCH` with an optional pre-release, ordered by SemVer 2.0.0
//! precedence.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A release version. Build metadata (`+...`) is refused: it plays no part in precedence, so it
/// cannot make a release newer than the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<Identifier>,
}

/// One dot-separated pre-release identifier. Numeric identifiers sort before alphanumeric ones,
/// which the variant order gives to the derived `Ord`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Identifier {
    Numeric(u64),
    Alphanumeric(String),
}

impl FromStr for Version {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.starts_with(['v', 'V']) {
            return Err("write the version without a leading `v` (the tag gets one)".into());
        }
        if text.contains('+') {
            return Err("build metadata (`+...`) does not order releases; leave it out".into());
        }
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let mut numbers = core.split('.');
        let (Some(major), Some(minor), Some(patch), None) = (
            numbers.next(),
            numbers.next(),
            numbers.next(),
            numbers.next(),
        ) else {
            return Err("expected MAJOR.MINOR.PATCH, e.g. 0.2.0 or 0.2.0-rc.1".into());
        };
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => pre
                .split('.')
                .map(identifier)
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(Self {
            major: number(major, "MAJOR")?,
            minor: number(minor, "MINOR")?,
            patch: number(patch, "PATCH")?,
            pre,
        })
    }
}

/// A numeric version part: digits only, no leading zero.
fn number(part: &str, name: &str) -> Result<u64, String> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} must be a number, not `{part}`"));
    }
    if part.len() > 1 && part.starts_with('0') {
        return Err(format!("{name} must not have a leading zero (`{part}`)"));
    }
    part.parse()
        .map_err(|_| format!("{name} `{part}` is too large"))
}

/// A pre-release identifier: non-empty, `[0-9A-Za-z-]`, numeric ones without a leading zero.
fn identifier(part: &str) -> Result<Identifier, String> {
    if part.is_empty() {
        return Err("the pre-release has an empty identifier".into());
    }
    if !part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(format!(
            "pre-release identifier `{part}` may only hold ASCII letters, digits and `-`"
        ));
    }
    if part.bytes().all(|b| b.is_ascii_digit()) {
        if part.len() > 1 && part.starts_with('0') {
            return Err(format!(
                "numeric pre-release identifier `{part}` must not have a leading zero"
            ));
        }
        return part
            .parse()
            .map(Identifier::Numeric)
            .map_err(|_| format!("pre-release identifier `{part}` is too large"));
    }
    Ok(Identifier::Alphanumeric(part.to_owned()))
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                // A pre-release comes before the release of the same numbers.
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        for (index, part) in self.pre.iter().enumerate() {
            f.write_str(if index == 0 { "-" } else { "." })?;
            match part {
                Identifier::Numeric(n) => write!(f, "{n}")?,
                Identifier::Alphanumeric(s) => f.write_str(s)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Version;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn valid_versions_round_trip() {
        for text in [
            "0.0.0",
            "0.2.0",
            "1.10.100",
            "0.2.0-rc.1",
            "1.0.0-alpha-1.x.7z",
            "18446744073709551615.0.0",
        ] {
            assert_eq!(v(text).to_string(), text);
        }
    }

    #[test]
    fn malformed_versions_are_refused() {
        for text in [
            "",
            "0.2",
            "0.2.0.1",
            "v0.2.0",
            "01.2.0",
            "0.02.0",
            "0.2.00",
            "0.2.0+build.5",
            "0.2.0-",
            "0.2.0-rc..1",
            "0.2.0-rc.01",
            "0.2.0-rc_1",
            "a.b.c",
            " 0.2.0",
            "0.2.0 ",
            "-1.0.0",
            "18446744073709551616.0.0",
        ] {
            assert!(text.parse::<Version>().is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn precedence_follows_semver() {
        // The example chain of SemVer 2.0.0, section 11, then later releases.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "1.9.0",
            "1.10.0",
            "2.0.0",
        ];
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert!(v("0.2.0-rc.1") > v("0.1.0"));
        assert!(v("0.1.0-rc.1") < v("0.1.0"));
        assert_eq!(v("0.1.0"), v("0.1.0"));
    }
}
