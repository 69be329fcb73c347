//! Line diffs between two texts (playbook versions, or an editor's text and
//! the version saved before it), grouped into hunks with some context.

use similar::{ChangeTag, TextDiff};

/// Unchanged lines kept around each change.
const CONTEXT: usize = 3;

/// What happened to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Same,
    Added,
    Removed,
}

impl LineKind {
    /// Also the CSS modifier (`diff-add`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Same => "same",
            LineKind::Added => "add",
            LineKind::Removed => "del",
        }
    }

    pub fn sign(self) -> &'static str {
        match self {
            LineKind::Same => " ",
            LineKind::Added => "+",
            LineKind::Removed => "-",
        }
    }
}

/// One line of a diff, with its 1-based number on each side it exists on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: LineKind,
    pub old_line: Option<usize>,
    pub new_line: Option<usize>,
    /// The line without its line ending.
    pub text: String,
}

/// A run of changes with their context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub lines: Vec<DiffLine>,
}

/// The diff from `old` to `new`: empty when they are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDiff {
    pub hunks: Vec<Hunk>,
    pub added: usize,
    pub removed: usize,
}

impl LineDiff {
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0
    }
}

/// Compares two texts line by line.
pub fn line_diff(old: &str, new: &str) -> LineDiff {
    let diff = TextDiff::from_lines(old, new);
    let (mut added, mut removed) = (0, 0);
    let hunks = diff
        .grouped_ops(CONTEXT)
        .iter()
        .map(|group| Hunk {
            lines: group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|change| {
                    let kind = match change.tag() {
                        ChangeTag::Equal => LineKind::Same,
                        ChangeTag::Insert => {
                            added += 1;
                            LineKind::Added
                        }
                        ChangeTag::Delete => {
                            removed += 1;
                            LineKind::Removed
                        }
                    };
                    DiffLine {
                        kind,
                        old_line: change.old_index().map(|i| i + 1),
                        new_line: change.new_index().map(|i| i + 1),
                        text: change
                            .value()
                            .trim_end_matches('\n')
                            .trim_end_matches('\r')
                            .to_owned(),
                    }
                })
                .collect(),
        })
        .filter(|h: &Hunk| !h.lines.is_empty())
        .collect();
    LineDiff {
        hunks,
        added,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_hunks() {
        let d = line_diff("a\nb\n", "a\nb\n");
        assert!(d.is_empty());
        assert!(d.hunks.is_empty());
    }

    #[test]
    fn a_changed_line_is_removed_then_added_with_numbers() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
        let new = "1\n2\n3\n4\n5\nsix\n7\n8\n9\n10\n";
        let d = line_diff(old, new);
        assert_eq!((d.added, d.removed), (1, 1));
        assert_eq!(d.hunks.len(), 1);
        let lines = &d.hunks[0].lines;
        // Three lines of context each side, not the whole file.
        assert_eq!(lines.len(), 3 + 2 + 3);
        let del = lines.iter().find(|l| l.kind == LineKind::Removed).unwrap();
        assert_eq!(
            (del.text.as_str(), del.old_line, del.new_line),
            ("6", Some(6), None)
        );
        let add = lines.iter().find(|l| l.kind == LineKind::Added).unwrap();
        assert_eq!(
            (add.text.as_str(), add.old_line, add.new_line),
            ("six", None, Some(6))
        );
    }

    #[test]
    fn far_apart_changes_are_separate_hunks() {
        let old: String = (1..=40).map(|n| format!("{n}\n")).collect();
        let new: String = (1..=40)
            .map(|n| match n {
                2 => "two\n".to_owned(),
                38 => "thirty-eight\n".to_owned(),
                n => format!("{n}\n"),
            })
            .collect();
        let d = line_diff(&old, &new);
        assert_eq!(d.hunks.len(), 2, "{d:?}");
    }
}
