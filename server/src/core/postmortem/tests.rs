use std::collections::BTreeMap;

use chrono::TimeZone;

use super::*;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
}

const REPORT: &str = "0b6f4b3e-5f0c-4c41-9a53-3f0f5a1c2d11";

fn sample() -> String {
    format!(
        "+++\nid = 7\nincident = 12\ntitle = \"Checkout 502s\"\nplaybook = \"keepalive-race-502\"\n\
         impact_start = \"2026-11-23T10:00:00Z\"\nimpact_end = \"2026-11-23T10:42:00Z\"\n\
         reports = [\"{REPORT}\"]\n+++\n\
         ## Summary\n\nProxy upgrade.\n\n## Impact\n\n## Symptoms\n\n- 502s\n\n## Timeline\n\n- 10:00 alert\n\n\
         ## Evidence\n\n**TCP**\n\n![TCP sockets](charts/report-{REPORT}-1-1.svg)\n\n```\n![not a chart](charts/x-1-1.svg)\n```\n\n\
         ## Investigation\n\n1. **Count.**\n\n   ```sh\n   ss -tan\n   ```\n\n## Root cause\n\nRace.\n\n## Fix\n\nTimeouts.\n\n## Prevention\n\nAlert.\n"
    )
}

#[test]
fn parses_keeps_source_and_finds_charts() {
    let src = sample();
    let p = Postmortem::parse("7.md", &src).unwrap();
    assert_eq!(p.source(), src, "byte-exact");
    assert_eq!(p.meta.id, 7);
    assert_eq!(p.meta.playbook.as_deref(), Some("keepalive-race-502"));
    assert_eq!(p.sections.len(), 9);
    assert_eq!(p.empty_sections(), [PmSection::Impact]);
    assert_eq!(p.section_markdown(PmSection::Fix), "Timeouts.");
    let charts = p.charts();
    assert_eq!(charts.len(), 1, "the fenced one is not a chart: {charts:?}");
    let key = ChartKey::parse(&charts[0].key).unwrap();
    assert_eq!(
        key.source,
        ChartSource::Report(uuid::Uuid::parse_str(REPORT).unwrap())
    );
    assert_eq!((key.observation, key.chart), (1, 1));
    assert_eq!(key.to_string(), charts[0].key);
    // CRLF files keep their bytes too.
    let crlf = src.replace('\n', "\r\n");
    assert_eq!(Postmortem::parse("7.md", &crlf).unwrap().source(), crlf);
}

#[test]
fn errors_name_the_line() {
    let src = sample();
    let e = Postmortem::parse(
        "7.md",
        &src.replace(
            "impact_start = \"2026-11-23T10:00:00Z\"",
            "impact_start = \"yesterday\"",
        ),
    )
    .unwrap_err();
    assert_eq!(e.line, 6, "{e}");
    assert!(e.message.starts_with("impact_start:"), "{e}");

    let e = Postmortem::parse("7.md", &src.replace("## Fix\n\nTimeouts.\n\n", "")).unwrap_err();
    assert!(e.message.contains("`## Fix` is missing"), "{e}");
    assert_eq!(
        e.line,
        src.lines().position(|l| l == "## Prevention").unwrap() + 1 - 4,
        "{e}"
    );

    let e = Postmortem::parse("7.md", &src.replace("## Impact", "## Blast radius")).unwrap_err();
    assert!(
        e.message.contains("unknown section `## Blast radius`"),
        "{e}"
    );
    assert!(e.message.contains("Summary, Impact, Symptoms"), "{e}");

    let e = Postmortem::parse(
        "7.md",
        &src.replace("incident = 12", "incident = 12\ncolour = 1"),
    )
    .unwrap_err();
    assert_eq!(e.line, 4, "{e}");

    let e = Postmortem::parse("7.md", &src.replace(REPORT, "nope")).unwrap_err();
    assert!(e.message.contains("not a stored report id"), "{e}");

    let e = Postmortem::parse("7.md", "## Summary\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("7.md:1: a postmortem starts with"),
        "{e}"
    );

    let e = Postmortem::parse(
        "7.md",
        &src.replace("2026-11-23T10:42:00Z", "2026-11-23T09:00:00Z"),
    )
    .unwrap_err();
    assert!(e.message.contains("before impact_start"), "{e}");
}

#[test]
fn section_html_draws_charts_and_sanitises_the_rest() {
    let md =
        format!("Seen <script>x</script>\n\n![Sockets](charts/report-{REPORT}-2-1.svg)\n\nafter\n");
    let html = section_html(&md, &|key, caption| {
        format!("<figure data-k=\"{key}\">{caption}</figure>")
    });
    assert!(!html.contains("<script"), "{html}");
    assert!(
        html.contains(&format!(
            "<figure data-k=\"report-{REPORT}-2-1\">Sockets</figure>"
        )),
        "{html}"
    );
    assert!(html.ends_with("<p>after</p>\n"), "{html}");
}

#[test]
fn chart_urls_are_replaced_outside_code_only() {
    let src = sample();
    let out = with_chart_urls(&src, &|key| Some(format!("data:{key}")));
    assert!(
        out.contains(&format!("![TCP sockets](data:report-{REPORT}-1-1)\n")),
        "{out}"
    );
    assert!(out.contains("![not a chart](charts/x-1-1.svg)"), "{out}");
    assert_eq!(with_chart_urls(&src, &|_| None), src);
}

fn incident(resolved: Option<DateTime<Utc>>) -> DraftIncident {
    DraftIncident {
        id: 12,
        title: "Checkout 502s".into(),
        severity: "critical".into(),
        status: if resolved.is_some() {
            "resolved"
        } else {
            "open"
        }
        .into(),
        labels: BTreeMap::from([("service".into(), "checkout".into())]),
        opened_at: at(10, 3),
        opened_by: "alertmanager".into(),
        resolved_at: resolved,
    }
}

fn event(t: DateTime<Utc>, who: &str, kind: &str, text: &str, facts: EventFacts) -> DraftEvent {
    DraftEvent {
        at: t,
        who: who.into(),
        kind: kind.into(),
        text: text.into(),
        facts,
    }
}

fn input(resolved: Option<DateTime<Utc>>) -> DraftInput {
    let events = vec![
        event(
            at(10, 3),
            "alertmanager",
            "alert",
            "Alert Checkout5xx firing: 502 from the proxy",
            EventFacts::Alert {
                firing: true,
                starts_at: Some(at(10, 0)),
            },
        ),
        event(
            at(10, 5),
            "node-5",
            "report",
            "Report from node-5",
            EventFacts::Other,
        ),
        event(
            at(10, 9),
            "alice",
            "note",
            "proxy upgraded\nat 09:55",
            EventFacts::Note,
        ),
        event(
            at(10, 20),
            "alice",
            "step",
            "Ticked step 1 of keepalive-race-502",
            EventFacts::Other,
        ),
        event(
            at(10, 30),
            "alice",
            "status",
            "Status open → mitigated",
            EventFacts::Status {
                to: "mitigated".into(),
            },
        ),
    ];
    DraftInput {
        id: 3,
        incident: incident(resolved),
        events,
        evidence: vec![DraftEvidence {
            source: "Report from node-5".into(),
            at: at(10, 5),
            who: "node-5".into(),
            link: Some(format!("/reports/{REPORT}")),
            observations: vec![DraftObservation {
                title: "Keep-alive".into(),
                uses: vec!["for Keep-alive race".into()],
                facts: vec![("closed idle after".into(), "4 s".into())],
                tables: vec![DraftTable {
                    caption: "Patterns".into(),
                    headers: vec!["pattern".into(), "lines".into()],
                    rows: vec![vec![
                        "upstream prematurely closed connection".into(),
                        "931".into(),
                    ]],
                    left_out: 11,
                }],
                charts: vec![format!("report-{REPORT}-1-1")],
            }],
        }],
        reports: vec![REPORT.into()],
        diagnosis: Some(DraftDiagnosis {
            playbook: "keepalive-race-502".into(),
            title: "Keep-alive race".into(),
            basis: Basis::Chosen,
            score: Some(7.5),
            held: vec!["the upstream closes idle connections first (4 s)".into()],
            root_cause: "The upstream closes first.".into(),
            fix: "Make the proxy's timeout shorter.".into(),
            prevention: "Alert on 502 with upstream prematurely closed.".into(),
        }),
        steps: vec![DraftStep {
            number: 2,
            markdown: "**Measure the idle close.**\n\n```sh\ncurl -v http://checkout\n```".into(),
            done_by: "alice".into(),
            done_at: at(10, 20),
        }],
    }
}

#[test]
fn draft_has_the_impact_window_timeline_evidence_and_playbook_text() {
    let p = draft(&input(Some(at(10, 42)))).unwrap();
    // It parses back to itself: what the store keeps is valid.
    assert_eq!(Postmortem::parse("x.md", p.source()).unwrap(), p);
    assert_eq!(
        p.meta.impact_start, "2026-11-23T10:00:00Z",
        "the alert started before the incident opened"
    );
    assert_eq!(p.meta.impact_end.as_deref(), Some("2026-11-23T10:42:00Z"));
    assert_eq!(p.meta.playbook, None, "chosen is not confirmed");
    assert_eq!(p.meta.reports, [REPORT]);

    let impact = p.section_markdown(PmSection::Impact);
    assert!(
        impact.contains("2026-11-23 10:00:00 UTC → 2026-11-23 10:42:00 UTC (42 min)"),
        "{impact}"
    );
    assert!(impact.contains("marked mitigated by alice"), "{impact}");

    let timeline = p.section_markdown(PmSection::Timeline);
    assert_eq!(timeline.lines().count(), 5, "{timeline}");
    assert!(
        timeline.contains("- `2026-11-23 10:09:00 UTC` alice (note): proxy upgraded at 09:55"),
        "{timeline}"
    );
    assert!(
        timeline.contains("alertmanager (alert): Alert Checkout5xx firing"),
        "{timeline}"
    );

    let symptoms = p.section_markdown(PmSection::Symptoms);
    assert!(
        symptoms.contains("- Alert Checkout5xx firing: 502 from the proxy"),
        "{symptoms}"
    );
    assert!(
        symptoms.contains("closes idle connections first"),
        "{symptoms}"
    );

    assert_eq!(p.charts().len(), 1);
    let evidence = p.section_markdown(PmSection::Evidence);
    assert!(evidence.contains("- closed idle after: 4 s"), "{evidence}");
    // The rows that mattered are kept, as a table; the rest are counted.
    assert!(
        evidence.contains("| upstream prematurely closed connection | 931 |"),
        "{evidence}"
    );
    assert!(
        evidence.contains("(and 11 more rows, zero or smaller)"),
        "{evidence}"
    );
    assert!(
        evidence.contains("(the diagnosis read it: for Keep-alive race)"),
        "{evidence}"
    );
    let html = crate::core::markdown::to_safe_html(evidence);
    assert!(
        html.contains("<table>") && html.contains("<td>931</td>"),
        "{html}"
    );
    // The prevention becomes an action item, unassigned.
    let items = p.action_items();
    assert_eq!(items.len(), 1, "{}", p.source());
    assert!(items[0].owner.is_none() && !items[0].done);

    let investigation = p.section_markdown(PmSection::Investigation);
    let steps = crate::core::playbook::steps(investigation);
    assert_eq!(steps.len(), 1, "{investigation}");
    assert_eq!(steps[0].commands, ["curl -v http://checkout"]);
    assert!(
        investigation.contains("Done by alice at 2026-11-23 10:20:00 UTC"),
        "{investigation}"
    );
    assert!(
        investigation.contains("- alice, 2026-11-23 10:09:00 UTC: proxy upgraded at 09:55"),
        "{investigation}"
    );

    let cause = p.section_markdown(PmSection::RootCause);
    assert!(
        cause.contains(
            "[Keep-alive race](/playbooks/keepalive-race-502) (score 7.5); nobody has confirmed"
        ),
        "{cause}"
    );
    assert!(cause.ends_with("The upstream closes first."), "{cause}");
    assert_eq!(
        p.section_markdown(PmSection::Fix),
        "Make the proxy's timeout shorter."
    );
    assert!(p.empty_sections().is_empty());
}

#[test]
fn window_without_resolution_or_alerts() {
    let mut i = input(None);
    let p = draft(&i).unwrap();
    assert_eq!(p.meta.impact_end, None);
    assert!(p.section_markdown(PmSection::Impact).contains("still open"));

    // A resolved alert ends the window even before the incident is resolved.
    i.events.push(event(
        at(10, 50),
        "alertmanager",
        "alert",
        "Alert Checkout5xx resolved",
        EventFacts::Alert {
            firing: false,
            starts_at: Some(at(10, 0)),
        },
    ));
    let (start, end, _) = impact_window(&i.incident, &i.events);
    assert_eq!((start, end), (at(10, 0), Some(at(10, 50))));

    // No alerts: opening to resolution; a confirmed diagnosis names the playbook.
    i.events
        .retain(|e| !matches!(e.facts, EventFacts::Alert { .. }));
    i.incident.resolved_at = Some(at(11, 0));
    i.diagnosis.as_mut().unwrap().basis = Basis::Confirmed;
    let p = draft(&i).unwrap();
    assert_eq!(p.meta.impact_start, "2026-11-23T10:03:00Z");
    assert_eq!(p.meta.impact_end.as_deref(), Some("2026-11-23T11:00:00Z"));
    assert_eq!(p.meta.playbook.as_deref(), Some("keepalive-race-502"));

    // Nothing known: a valid draft with empty sections to fill.
    i.diagnosis = None;
    i.steps.clear();
    i.evidence.clear();
    i.events.clear();
    let p = draft(&i).unwrap();
    assert!(p.empty_sections().contains(&PmSection::RootCause));
    assert!(
        p.section_markdown(PmSection::Summary)
            .contains("No cause was identified")
    );
}

#[test]
fn action_items_are_task_lines_with_owner_and_due() {
    let src = format!(
        "{}\n## Action items\n\n- [ ] Alert on CLOSE_WAIT growth — owner: alice, due: 2026-12-20\n\
         - [x] Close the client in the retry path — owner: bob\n- [ ] Review pool sizes\n",
        sample().trim_end()
    );
    let p = Postmortem::parse("7.md", &src).unwrap();
    assert_eq!(p.source(), src, "byte-exact");
    let items = p.action_items();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].text, "Alert on CLOSE_WAIT growth");
    assert_eq!(items[0].owner.as_deref(), Some("alice"));
    assert_eq!(
        items[0].due.map(|d| d.to_string()).as_deref(),
        Some("2026-12-20")
    );
    assert!(!items[0].done && items[1].done);
    assert_eq!((items[2].owner.as_ref(), items[2].due), (None, None));
    assert_eq!(
        items[0].to_line(),
        "- [ ] Alert on CLOSE_WAIT growth — owner: alice, due: 2026-12-20"
    );
    let line_of = |needle: &str| src.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert_eq!(items[1].line, line_of("retry path"));

    // Without the section (older postmortems) it parses, with no items.
    assert!(
        Postmortem::parse("7.md", &sample())
            .unwrap()
            .action_items()
            .is_empty()
    );

    // Mistakes are errors at their line.
    for (bad, says) in [
        ("- [ ] Ship it — owner: alice, due: next week", "not a date"),
        ("- [ ] Ship it — ownr: alice", "unknown field `ownr`"),
        ("Ship it", "one task line"),
    ] {
        let src = format!("{}\n## Action items\n\n{bad}\n", sample().trim_end());
        let e = Postmortem::parse("7.md", &src).unwrap_err();
        assert!(e.to_string().contains(says), "{bad}: {e}");
        assert_eq!(e.line, src.lines().count(), "{bad}: {e}");
    }
}

#[test]
fn exported_links_are_absolute_outside_code() {
    let text = "See [the playbook](/playbooks/close-wait-leak) and [x](//other/y), \
                `[code](/not)` and [web](https://a.example/b).\n```\n[fenced](/no)\n```\n![c](charts/k.svg)\n";
    let out = absolute_links(text, "https://fl.example/");
    assert!(
        out.contains("[the playbook](https://fl.example/playbooks/close-wait-leak)"),
        "{out}"
    );
    assert!(out.contains("[x](//other/y)"), "{out}");
    assert!(out.contains("`[code](/not)`"), "{out}");
    assert!(out.contains("[fenced](/no)"), "{out}");
    assert!(
        out.contains("[web](https://a.example/b)") && out.contains("![c](charts/k.svg)"),
        "{out}"
    );
    assert_eq!(out.len(), text.len() + "https://fl.example".len(), "{out}");
}
