//! Study mode: a playbook turned into an exercise.
//!
//! The learner sees the alert, the symptoms and the example evidence, then
//! names the root cause: one of a few candidates (the playbook and
//! distractors from other playbooks, same layer first) or a free answer.
//! Hints reveal the investigation steps one at a time. Fewer hints score
//! more points, and a Leitner schedule brings missed exercises back soon.
//!
//! Free answers are graded loosely, by the share of key words they share with
//! the playbook's title and root cause; the pages say so and let the learner
//! mark themselves after the reveal.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::markdown::to_plain_text;
use super::playbook::{Playbook, SectionKind, Step};

/// Candidate answers offered for one exercise (the right one included).
pub const CANDIDATES: usize = 4;
/// Points for a right answer with no hints.
pub const FULL_POINTS: u32 = 100;
/// Points for a right answer however many hints it took.
pub const MIN_POINTS: u32 = 10;
/// Highest Leitner box.
pub const TOP_BOX: u8 = 5;

/// One investigation step as a hint: its title, commands and what it showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    pub number: usize,
    pub title: String,
    pub commands: Vec<String>,
    /// The step's "What it shows" text, or the rest of the step without it.
    pub shows: String,
}

impl Hint {
    fn of(step: Step) -> Hint {
        let plain = to_plain_text(&step.markdown);
        let shows = match plain.find("What it shows:") {
            Some(i) => plain[i + "What it shows:".len()..].trim().to_owned(),
            None => {
                let mut rest = plain.clone();
                for c in &step.commands {
                    rest = rest.replace(c.as_str(), "");
                }
                rest.replacen(&step.title, "", 1).trim().to_owned()
            }
        };
        Hint {
            number: step.number,
            title: step.title,
            commands: step.commands,
            shows,
        }
    }
}

/// The hints of a playbook, in investigation order.
pub fn hints(p: &Playbook) -> Vec<Hint> {
    p.steps().into_iter().map(Hint::of).collect()
}

/// Whether a playbook can be studied: it has a root cause to reveal and
/// example evidence to show.
pub fn is_exercise(p: &Playbook) -> bool {
    !p.section_markdown(SectionKind::RootCause).trim().is_empty() && !p.meta.examples.is_empty()
}

/// A candidate answer: a playbook id and its title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub id: String,
    pub title: String,
}

/// FNV-1a: stable across Rust versions and platforms (the standard hasher
/// is not promised to be).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// SplitMix64's finaliser: spreads FNV's output over all 64 bits (FNV alone
/// keeps related inputs' low bits related, which skewed the order).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Orders items by a hash of (seed, attempt, item): a shuffle that is the
/// same every time for the same seed and attempt.
fn shuffled<'a>(items: Vec<&'a Playbook>, seed: &str, attempt: u64) -> Vec<&'a Playbook> {
    let mut keyed: Vec<(u64, &Playbook)> = items
        .into_iter()
        .map(|p| {
            let key = mix(fnv(&[
                seed.as_bytes(),
                &attempt.to_le_bytes(),
                p.id().as_bytes(),
            ]));
            (key, p)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id().cmp(b.1.id())));
    keyed.into_iter().map(|(_, p)| p).collect()
}

/// The answers offered for `target` to `learner` on their `attempt`-th try:
/// the target and distractors (other playbooks of the same layer first, then
/// other layers). The order is shuffled per learner, exercise and attempt
/// (the same on a reload, new on the next try); the answer's place is
/// uniform over the slots.
pub fn candidates(
    target: &Playbook,
    all: &[&Playbook],
    learner: &str,
    attempt: u64,
) -> Vec<Choice> {
    let seed = format!("{learner}\u{1f}{}", target.id());
    let others = || all.iter().copied().filter(|p| p.id() != target.id());
    let same: Vec<&Playbook> = others()
        .filter(|p| p.meta.layer == target.meta.layer)
        .collect();
    let rest: Vec<&Playbook> = others()
        .filter(|p| p.meta.layer != target.meta.layer)
        .collect();
    let mut picked: Vec<&Playbook> = shuffled(same, &seed, attempt);
    picked.extend(shuffled(rest, &seed, attempt));
    picked.truncate(CANDIDATES - 1);
    let mut order = shuffled(picked, &format!("{seed}#order"), attempt);
    let slot =
        mix(fnv(&[seed.as_bytes(), b"#slot", &attempt.to_le_bytes()])) % (order.len() as u64 + 1);
    order.insert(slot as usize, target);
    order
        .into_iter()
        .map(|p| Choice {
            id: p.id().to_owned(),
            title: p.meta.title.clone(),
        })
        .collect()
}

/// Words that say nothing about a root cause.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "an", "and", "any", "are", "as", "at", "be", "because", "been",
    "before", "but", "by", "can", "cannot", "could", "do", "does", "each", "every", "few", "for",
    "from", "get", "gets", "has", "have", "if", "in", "into", "is", "it", "its", "keep", "keeps",
    "more", "most", "no", "not", "of", "on", "one", "only", "or", "other", "our", "out", "own",
    "runs", "same", "so", "some", "than", "that", "the", "their", "them", "then", "there", "they",
    "this", "to", "too", "until", "up", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "why", "will", "with", "without", "would", "you",
];

/// A word cut to a rough stem: lowercase, common English endings removed,
/// so "resets", "resetting" and "reset" meet.
pub fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    for suffix in [
        "ations", "ation", "ings", "ing", "ies", "ed", "es", "s", "ly",
    ] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.chars().count() >= 3
        {
            let base = if suffix == "ies" {
                format!("{base}y")
            } else {
                base.to_owned()
            };
            // "resetting" -> "resett" -> "reset"
            let mut chars: Vec<char> = base.chars().collect();
            if chars.len() >= 4 && chars[chars.len() - 1] == chars[chars.len() - 2] {
                chars.pop();
            }
            return chars.into_iter().collect();
        }
    }
    w
}

/// The distinct stems of the meaningful words of a text.
pub fn keywords(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .filter(|w| w.chars().count() >= 2)
        .map(|w| stem(&w))
        .collect()
}

/// How a free answer compared with the playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeGrade {
    pub correct: bool,
    /// 0..=1; at or above [`FREE_PASS`] counts as right.
    pub overlap: f64,
    /// Key words of the answer that the title or root cause also has.
    pub matched: Vec<String>,
}

/// Overlap at which a free answer counts as right.
pub const FREE_PASS: f64 = 0.5;
/// Root-cause words a free answer needs to hit for full marks on that half.
const CAUSE_WORDS: usize = 4;

/// Grades a free answer by word overlap: 60 % for the share of the title's
/// key words it names, 40 % for naming up to four of the root cause's.
pub fn grade_free(p: &Playbook, answer: &str) -> FreeGrade {
    let said = keywords(answer);
    let title = keywords(&p.meta.title);
    let cause = keywords(&to_plain_text(p.section_markdown(SectionKind::RootCause)));
    let title_hits = said.intersection(&title).count();
    let cause_hits = said.intersection(&cause).count();
    let overlap = if said.is_empty() || title.is_empty() {
        0.0
    } else {
        0.6 * title_hits as f64 / title.len() as f64
            + 0.4 * (cause_hits.min(CAUSE_WORDS) as f64 / CAUSE_WORDS as f64)
    };
    let matched = said
        .iter()
        .filter(|w| title.contains(*w) || cause.contains(*w))
        .cloned()
        .collect();
    FreeGrade {
        correct: overlap >= FREE_PASS,
        overlap,
        matched,
    }
}

/// Points for an answer: full marks without hints, fewer for each hint taken
/// (never below [`MIN_POINTS`] when right), none when wrong.
pub fn points(correct: bool, hints_used: usize, hint_count: usize) -> u32 {
    if !correct {
        return 0;
    }
    let share = hints_used.min(hint_count) as f64 / (hint_count + 1) as f64;
    ((f64::from(FULL_POINTS) * (1.0 - share)).round() as u32).max(MIN_POINTS)
}

/// One graded try, as the schedule and progress read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub at: DateTime<Utc>,
    pub correct: bool,
    pub hints_used: usize,
    pub hint_count: usize,
    pub points: u32,
}

/// When an exercise comes back, and how well it is known (its box).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// 0 = missed last time; [`TOP_BOX`] = known well.
    pub leitner_box: u8,
    pub due_at: DateTime<Utc>,
}

/// How long an exercise rests in each box before it is due again.
pub fn interval(leitner_box: u8) -> Duration {
    match leitner_box {
        0 => Duration::minutes(10),
        1 => Duration::days(1),
        2 => Duration::days(3),
        3 => Duration::days(7),
        4 => Duration::days(16),
        _ => Duration::days(35),
    }
}

/// The next box after a try: right moves up one (a right answer that took
/// more than half the hints stays put, at least in box 1), missed goes back
/// to box 0.
pub fn next_box(current: u8, o: &Outcome) -> u8 {
    if !o.correct {
        0
    } else if o.hints_used * 2 > o.hint_count {
        current.max(1)
    } else {
        (current + 1).min(TOP_BOX)
    }
}

/// The schedule after a history of tries, oldest first; `None` before the
/// first try (a new exercise is due now).
pub fn schedule(history: &[Outcome]) -> Option<Schedule> {
    let mut leitner_box = 0;
    for o in history {
        leitner_box = next_box(leitner_box, o);
    }
    history.last().map(|last| Schedule {
        leitner_box,
        due_at: last.at + interval(leitner_box),
    })
}

/// A learner's progress over all their tries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Progress {
    pub attempts: usize,
    pub correct: usize,
    pub hints_used: usize,
    pub points: u32,
    /// Days in a row, up to today or yesterday, with at least one try.
    pub day_streak: usize,
    /// Right answers in a row, ending with the latest try.
    pub right_streak: usize,
}

impl Progress {
    /// Share of right answers, 0 without tries.
    pub fn accuracy(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.correct as f64 / self.attempts as f64
        }
    }
}

/// Progress from every try of one learner, in any order.
pub fn progress(tries: &[Outcome], now: DateTime<Utc>) -> Progress {
    let mut sorted: Vec<&Outcome> = tries.iter().collect();
    sorted.sort_by_key(|o| o.at);
    let days: BTreeSet<NaiveDate> = sorted.iter().map(|o| o.at.date_naive()).collect();
    let today = now.date_naive();
    let mut day = if days.contains(&today) {
        Some(today)
    } else {
        today.pred_opt().filter(|d| days.contains(d))
    };
    let mut day_streak = 0;
    while let Some(d) = day.filter(|d| days.contains(d)) {
        day_streak += 1;
        day = d.pred_opt();
    }
    Progress {
        attempts: sorted.len(),
        correct: sorted.iter().filter(|o| o.correct).count(),
        hints_used: sorted.iter().map(|o| o.hints_used).sum(),
        points: sorted.iter().map(|o| o.points).sum(),
        day_streak,
        right_streak: sorted.iter().rev().take_while(|o| o.correct).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::playbook::Playbook;

    fn builtins() -> Vec<Playbook> {
        crate::builtin::playbooks()
            .iter()
            .map(|(n, t)| Playbook::parse(n, t).unwrap())
            .collect()
    }

    fn get<'a>(all: &'a [Playbook], id: &str) -> &'a Playbook {
        all.iter().find(|p| p.id() == id).unwrap()
    }

    #[test]
    fn every_builtin_is_an_exercise_with_hints_that_say_what_they_show() {
        for p in builtins() {
            assert!(is_exercise(&p), "{}", p.id());
            let hints = hints(&p);
            assert!(hints.len() >= 3, "{}", p.id());
            for h in &hints {
                assert!(!h.shows.is_empty(), "{} step {}", p.id(), h.number);
                assert!(!h.shows.starts_with("What it shows"), "{}", h.shows);
            }
        }
        let all = builtins();
        let first = &hints(get(&all, "close-wait-leak"))[0];
        assert!(
            first.shows.starts_with("how close the process is"),
            "{}",
            first.shows
        );
    }

    #[test]
    fn candidates_hold_the_answer_and_same_layer_distractors_first() {
        let all = builtins();
        let refs: Vec<&Playbook> = all.iter().collect();
        for p in &all {
            for attempt in 0..3 {
                let c = candidates(p, &refs, "ada", attempt);
                assert_eq!(c.len(), CANDIDATES, "{}", p.id());
                assert_eq!(c.iter().filter(|c| c.id == p.id()).count(), 1);
                let ids: BTreeSet<_> = c.iter().map(|c| &c.id).collect();
                assert_eq!(ids.len(), CANDIDATES, "no duplicates");
                assert_eq!(c, candidates(p, &refs, "ada", attempt), "deterministic");
            }
        }
        // Network has three playbooks: both others are among the distractors.
        let mtu = get(&all, "mtu-blackhole");
        let c = candidates(mtu, &refs, "ada", 0);
        for id in ["missing-masquerade", "periodic-saturation-p99"] {
            assert!(c.iter().any(|c| c.id == id), "{c:?}");
        }
        // The order changes between attempts for at least one playbook.
        assert!(
            all.iter()
                .any(|p| candidates(p, &refs, "ada", 0) != candidates(p, &refs, "ada", 1))
        );
    }

    #[test]
    fn the_answer_is_in_every_slot_about_as_often() {
        let all = builtins();
        let refs: Vec<&Playbook> = all.iter().collect();
        let mut slots = [0usize; CANDIDATES];
        let mut first_per_learner = Vec::new();
        for learner in ["ada", "bo", "chen", "dana", "eli", "fay", "gus", "hana"] {
            let mut first = 0;
            for p in &all {
                for attempt in 0..10 {
                    let c = candidates(p, &refs, learner, attempt);
                    let at = c.iter().position(|c| c.id == p.id()).unwrap();
                    slots[at] += 1;
                    first += usize::from(attempt == 0 && at == 0);
                }
            }
            first_per_learner.push(first);
        }
        let total: usize = slots.iter().sum();
        for n in slots {
            let share = n as f64 / total as f64;
            assert!((0.20..=0.30).contains(&share), "{slots:?}");
        }
        // On a first try the answer is not first in most exercises for anyone.
        assert!(
            first_per_learner.iter().all(|&n| n <= 6),
            "{first_per_learner:?} of {}",
            all.len()
        );
        // Another learner sees another order.
        let p = &all[0];
        assert!((0..5).any(|a| candidates(p, &refs, "ada", a) != candidates(p, &refs, "bo", a)));
    }

    #[test]
    fn few_playbooks_give_fewer_candidates() {
        let all = builtins();
        let only = get(&all, "mtu-blackhole");
        let c = candidates(only, &[only], "ada", 0);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].id, "mtu-blackhole");
    }

    #[test]
    fn stems_meet() {
        assert_eq!(stem("resets"), "reset");
        assert_eq!(stem("resetting"), "reset");
        assert_eq!(stem("descriptors"), "descriptor");
        assert_eq!(stem("entries"), "entry");
        assert_eq!(stem("is"), "is");
        assert!(keywords("The socket, and THE sockets").contains("socket"));
        assert!(!keywords("the and of").contains("the"));
    }

    #[test]
    fn free_answers_are_graded_by_overlap() {
        let all = builtins();
        let p = get(&all, "close-wait-leak");
        let right = grade_free(
            p,
            "the app never closes response bodies so sockets pile up in CLOSE_WAIT and it runs out of file descriptors",
        );
        assert!(right.correct, "{right:?}");
        assert!(
            right.matched.contains(&"descriptor".to_owned()),
            "{right:?}"
        );
        let wrong = grade_free(p, "DNS search domains with ndots 5 slow every lookup");
        assert!(!wrong.correct, "{wrong:?}");
        assert!(!grade_free(p, "").correct);
        assert!(!grade_free(p, "the the the").correct);
    }

    #[test]
    fn fewer_hints_score_more() {
        assert_eq!(points(true, 0, 5), FULL_POINTS);
        assert!(points(true, 1, 5) > points(true, 3, 5));
        assert_eq!(points(true, 5, 5), 17);
        assert_eq!(points(true, 50, 1), 50);
        assert_eq!(points(false, 0, 5), 0);
        assert!(points(true, 99, 99) >= MIN_POINTS);
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    fn try_at(at: DateTime<Utc>, correct: bool, hints_used: usize) -> Outcome {
        Outcome {
            at,
            correct,
            hints_used,
            hint_count: 6,
            points: points(correct, hints_used, 6),
        }
    }

    #[test]
    fn missed_comes_back_soon_and_right_waits_longer() {
        assert_eq!(schedule(&[]), None);
        let missed = schedule(&[try_at(at(2, 9), false, 3)]).unwrap();
        assert_eq!(missed.leitner_box, 0);
        assert_eq!(missed.due_at, at(2, 9) + Duration::minutes(10));
        let right = schedule(&[try_at(at(2, 9), true, 0)]).unwrap();
        assert_eq!((right.leitner_box, right.due_at), (1, at(3, 9)));
        assert!(missed.due_at < right.due_at);

        let h = [
            try_at(at(1, 9), true, 0),
            try_at(at(2, 9), true, 1),
            try_at(at(5, 9), true, 0),
        ];
        let s = schedule(&h).unwrap();
        assert_eq!((s.leitner_box, s.due_at), (3, at(12, 9)));
        // A miss sends it back to the start.
        let mut h2 = h.to_vec();
        h2.push(try_at(at(12, 9), false, 0));
        assert_eq!(schedule(&h2).unwrap().leitner_box, 0);
        // Right after most hints: not promoted, but out of box 0.
        assert_eq!(next_box(0, &try_at(at(1, 1), true, 5)), 1);
        assert_eq!(next_box(3, &try_at(at(1, 1), true, 5)), 3);
        assert_eq!(next_box(TOP_BOX, &try_at(at(1, 1), true, 0)), TOP_BOX);
    }

    #[test]
    fn progress_counts_accuracy_and_streaks() {
        let tries = [
            try_at(at(20, 9), false, 2),
            try_at(at(22, 9), true, 0),
            try_at(at(23, 9), false, 1),
            try_at(at(23, 10), true, 1),
            try_at(at(24, 8), true, 0),
        ];
        let p = progress(&tries, at(24, 12));
        assert_eq!((p.attempts, p.correct, p.hints_used), (5, 3, 4));
        assert!((p.accuracy() - 0.6).abs() < 1e-9);
        assert_eq!(p.day_streak, 3, "22, 23, 24");
        assert_eq!(p.right_streak, 2);
        assert_eq!(
            progress(&tries, at(25, 12)).day_streak,
            3,
            "yesterday counts"
        );
        assert_eq!(progress(&tries, at(26, 12)).day_streak, 0);
        assert_eq!(progress(&[], at(1, 1)), Progress::default());
        assert_eq!(Progress::default().accuracy(), 0.0);
    }
}
