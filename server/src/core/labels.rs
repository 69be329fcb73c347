//! Labels written as `key=value`: on the command line (`--label host=web-1`),
//! in the new-incident form and the admin page's collector form (one per
//! line or comma separated).

use std::collections::BTreeMap;

/// `key=value` pairs, one per line or comma separated; blank parts skipped.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    parse_each(text.split(['\n', ',']))
}

/// Each part one `key=value` pair (keys and values trimmed; a key is
/// needed, a value may be empty); blank parts skipped.
pub fn parse_each<'a>(
    parts: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for part in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                labels.insert(k.trim().to_owned(), v.trim().to_owned());
            }
            _ => return Err(format!("label {part:?} is not key=value")),
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_per_line_or_comma() {
        let labels = parse("host = web-1\nservice=api, zone=eu-1\n\n").unwrap();
        assert_eq!(labels.len(), 3);
        assert_eq!(labels["host"], "web-1");
        assert_eq!(labels["zone"], "eu-1");
        assert!(parse("=v").is_err());
        assert!(parse("host").unwrap_err().contains("\"host\""));
        assert_eq!(parse_each(["a=", " "]).unwrap()["a"], "");
    }
}
