//! Reading an incident list's filters (`status`, `label=key=value`, `since`,
//! `limit`) from query text, for the list page and `GET /api/v1/incidents`
//! alike. Pure: each error names its field; the caller picks the status.

use chrono::{DateTime, Duration, Utc};

use crate::store::{IncidentFilter, IncidentStatus, MAX_LIST};

/// A filter value that cannot be read, and which field it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: String) -> FilterError {
    FilterError { field, message }
}

/// The filter text as given (each empty when absent).
#[derive(Debug, Clone, Default)]
pub struct FilterText<'a> {
    pub status: &'a str,
    pub label: &'a str,
    pub since: &'a str,
    pub limit: &'a str,
}

/// Every field read, or the first that cannot be; `default_limit` when no
/// limit is given.
pub fn parse(
    text: &FilterText<'_>,
    default_limit: i64,
    now: DateTime<Utc>,
) -> Result<IncidentFilter, FilterError> {
    Ok(IncidentFilter {
        status: status(text.status)?,
        label: label(text.label)?,
        since: since(text.since, now)?,
        limit: limit(text.limit, default_limit)?,
    })
}

/// `open`, `mitigated`, `resolved`; empty or `any` for every status.
pub fn status(s: &str) -> Result<Option<IncidentStatus>, FilterError> {
    match s.trim() {
        "" | "any" => Ok(None),
        s => IncidentStatus::parse(s).map(Some).ok_or_else(|| {
            bad(
                "status",
                format!("unknown status {s:?}; use open, mitigated or resolved"),
            )
        }),
    }
}

/// `key=value`: incidents whose labels hold exactly that pair.
pub fn label(s: &str) -> Result<Option<(String, String)>, FilterError> {
    match s.trim() {
        "" => Ok(None),
        l => match l.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok(Some((k.trim().to_owned(), v.trim().to_owned())))
            }
            _ => Err(bad("label", format!("{l:?} is not key=value"))),
        },
    }
}

/// A window back from `now` (`90m`, `24h`, `7d`; `s` too) or an RFC 3339
/// time; empty or `any` for all time.
pub fn since(s: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, FilterError> {
    let s = s.trim();
    if s.is_empty() || s == "any" {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let window = window(s).ok_or_else(|| {
        bad(
            "since",
            format!(
                "{s:?} is neither a window such as 1h, 24h or 7d nor an RFC 3339 time \
                 such as 2026-11-24T03:00:00Z"
            ),
        )
    })?;
    Ok(Some(
        now.checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    ))
}

/// `<n>s`, `<n>m`, `<n>h`, `<n>d` with n a whole number from 1.
fn window(s: &str) -> Option<Duration> {
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()]
        .parse()
        .ok()
        .filter(|n| *n > 0)?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(seconds).and_then(Duration::try_seconds)
}

/// A whole number from 1 to [`MAX_LIST`].
pub fn limit(s: &str, default: i64) -> Result<i64, FilterError> {
    match s.trim() {
        "" => Ok(default),
        l => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIST).contains(n))
            .ok_or_else(|| {
                bad(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LIST}, not {l:?}"),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn windows_and_times_both_read() {
        let at = |s: &str| since(s, now()).unwrap().map(|t| t.to_rfc3339());
        assert_eq!(at("90m").as_deref(), Some("2026-11-24T10:30:00+00:00"));
        assert_eq!(at("7d").as_deref(), Some("2026-11-17T12:00:00+00:00"));
        assert_eq!(
            at("2026-11-24T03:00:00+01:00").as_deref(),
            Some("2026-11-24T02:00:00+00:00")
        );
        assert_eq!(at(""), None);
        assert_eq!(at("any"), None);
        for wrong in [
            "forever",
            "0h",
            "-1d",
            "5w",
            "h",
            "1.5h",
            "99999999999999999d",
        ] {
            assert_eq!(since(wrong, now()).unwrap_err().field, "since", "{wrong}");
        }
    }

    #[test]
    fn every_field_names_itself_when_wrong() {
        let field = |text: FilterText| parse(&text, 50, now()).unwrap_err().field;
        let t = FilterText::default;
        assert_eq!(
            field(FilterText {
                status: "closed",
                ..t()
            }),
            "status"
        );
        assert_eq!(
            field(FilterText {
                label: "service",
                ..t()
            }),
            "label"
        );
        assert_eq!(
            field(FilterText {
                label: "=api",
                ..t()
            }),
            "label"
        );
        assert_eq!(field(FilterText { limit: "0", ..t() }), "limit");
        assert_eq!(
            field(FilterText {
                limit: "1001",
                ..t()
            }),
            "limit"
        );
        assert_eq!(
            field(FilterText {
                limit: "ten",
                ..t()
            }),
            "limit"
        );
        let ok = parse(
            &FilterText {
                status: "open",
                label: " service = api ",
                since: "",
                limit: "3",
            },
            50,
            now(),
        )
        .unwrap();
        assert_eq!(ok.status, Some(IncidentStatus::Open));
        assert_eq!(ok.label, Some(("service".into(), "api".into())));
        assert_eq!(ok.limit, 3);
        assert_eq!(parse(&t(), 50, now()).unwrap().limit, 50);
    }
}
