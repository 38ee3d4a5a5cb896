//! The CHANGELOG.md section of a release, in Keep a Changelog form: `## [0.2.0] - 2026-11-29`.

/// The section for `version`: its heading line and body up to the next `## ` heading or the link
/// reference definitions at the end, without trailing blank lines. It becomes the tag message.
pub(crate) fn section(text: &str, version: &str) -> Result<String, String> {
    let prefix = format!("## [{version}]");
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.starts_with(&prefix))
        .map(|(index, _)| index)
        .collect();
    let start = match starts.as_slice() {
        [] => {
            return Err(format!(
                "CHANGELOG.md has no `{prefix}` section; add one (e.g. rename `## [Unreleased]` to \
                 `{prefix} - YYYY-MM-DD`) and commit it"
            ));
        }
        [start] => *start,
        _ => {
            return Err(format!(
                "CHANGELOG.md has {} `{prefix}` sections",
                starts.len()
            ));
        }
    };
    let heading = lines.get(start).copied().unwrap_or_default();
    check_heading_rest(heading.get(prefix.len()..).unwrap_or_default(), &prefix)?;
    let body: Vec<&str> = lines
        .iter()
        .skip(start + 1)
        .take_while(|line| !line.starts_with("## ") && !is_link_definition(line))
        .copied()
        .collect();
    let used = body
        .iter()
        .rposition(|line| !line.trim().is_empty())
        .ok_or_else(|| format!("the CHANGELOG.md section `{heading}` is empty"))?;
    let mut message = String::from(heading);
    for line in body.iter().take(used + 1) {
        message.push('\n');
        message.push_str(line);
    }
    message.push('\n');
    Ok(message)
}

/// After `## [VERSION]` only ` - YYYY-MM-DD` may follow.
fn check_heading_rest(rest: &str, prefix: &str) -> Result<(), String> {
    if rest.is_empty() {
        return Ok(());
    }
    let date = rest.strip_prefix(" - ").unwrap_or_default();
    let parts: Vec<&str> = date.split('-').collect();
    let well_formed = matches!(parts.as_slice(), [y, m, d]
        if y.len() == 4 && m.len() == 2 && d.len() == 2
            && date.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            && (1..=12).contains(&m.parse::<u8>().unwrap_or(0))
            && (1..=31).contains(&d.parse::<u8>().unwrap_or(0)));
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "CHANGELOG.md heading `{prefix}{rest}` should be `{prefix}` or `{prefix} - YYYY-MM-DD`"
        ))
    }
}

/// A Markdown link reference definition such as `[0.2.0]: https://...`.
fn is_link_definition(line: &str) -> bool {
    line.starts_with('[') && line.contains("]: ")
}

#[cfg(test)]
mod tests {
    use super::section;

    const CHANGELOG: &str = "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Added\n- next\n\n\
        ## [0.2.0] - 2026-11-29\n\n### Added\n- one\n- two\n\n### Fixed\n- three\n\n\n\
        ## [0.1.0] - 2026-01-02\n\n- first\n\n[0.2.0]: https://example.invalid/0.2.0\n";

    #[test]
    fn takes_the_section_up_to_the_next_heading() {
        assert_eq!(
            section(CHANGELOG, "0.2.0").unwrap(),
            "## [0.2.0] - 2026-11-29\n\n### Added\n- one\n- two\n\n### Fixed\n- three\n"
        );
    }

    #[test]
    fn the_last_section_stops_at_link_definitions() {
        assert_eq!(
            section(CHANGELOG, "0.1.0").unwrap(),
            "## [0.1.0] - 2026-01-02\n\n- first\n"
        );
    }

    #[test]
    fn a_heading_without_a_date_is_accepted() {
        let text = "## [1.0.0]\n- done\n";
        assert_eq!(section(text, "1.0.0").unwrap(), text);
    }

    #[test]
    fn missing_empty_duplicate_and_misdated_sections_are_refused() {
        let missing = section(CHANGELOG, "0.3.0").unwrap_err();
        assert!(missing.contains("no `## [0.3.0]` section"), "{missing}");
        // `## [0.2.0-rc.1]` must not be taken for `## [0.2.0]`, nor the reverse.
        assert!(section("## [0.2.0-rc.1] - 2026-11-01\n- x\n", "0.2.0").is_err());
        assert!(section("## [0.2.0]\n\n\n## [0.1.0]\n- x\n", "0.2.0").is_err());
        assert!(section("## [0.2.0]\n- a\n## [0.2.0]\n- b\n", "0.2.0").is_err());
        for heading in [
            "## [0.2.0] 2026-11-29",
            "## [0.2.0] - 29.11.2026",
            "## [0.2.0] - 2026-13-01",
            "## [0.2.0] - 2026-11-29 [YANKED]",
        ] {
            assert!(
                section(&format!("{heading}\n- a\n"), "0.2.0").is_err(),
                "{heading}"
            );
        }
    }
}
