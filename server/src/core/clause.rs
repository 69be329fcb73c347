//! Clause expressions: CEL over signals.
//!
//! Each top-level signal group (`tcp`, `dns`, `conntrack`, …) is a CEL map
//! variable, so `tcp.close_wait_share > 0.5` reads as written. A clause is
//! checked once, when its playbook is parsed: syntax, and every dotted name
//! must be a signal in the catalogue. At evaluation a clause that needs an
//! absent signal is Unknown, never false, unless CEL can decide it without
//! that signal (`a || b` with `a` true).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};
use cel::{Context, Program, Value};
use serde::Serialize;

use super::signals::catalogue::{self, groups};
use super::signals::{SignalValue, Signals};

/// A checked, compiled clause expression.
pub struct Expression {
    program: Program,
    /// Signal names it mentions, in order of first use.
    signals: Vec<String>,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expression")
            .field("signals", &self.signals)
            .finish_non_exhaustive()
    }
}

/// Why an expression was rejected, and where (1-based column in the `when` text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClauseError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ClauseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.column)
    }
}

/// The three outcomes of a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Expression {
    /// Parses and checks `when`.
    pub fn compile(when: &str) -> Result<Expression, ClauseError> {
        let program = Program::compile(when).map_err(|e| {
            let first = e.errors.first();
            ClauseError {
                column: first.map_or(1, |p| p.pos.1.max(1) as usize),
                message: first.map_or_else(|| e.to_string(), |p| p.msg.clone()),
            }
        })?;
        let mut names = Vec::new();
        let bound = bound_variables(program.expression());
        collect_names(program.expression(), &bound, &mut names);
        let mut signals = Vec::new();
        for (name, id) in names {
            let column = program
                .source_info()
                .offset_for(id)
                .map_or(1, |(start, _)| column_of(when, start as usize));
            check_name(&name).map_err(|message| ClauseError { column, message })?;
            if !signals.contains(&name) {
                signals.push(name);
            }
        }
        Ok(Expression { program, signals })
    }

    /// Signal names the expression mentions.
    pub fn signals(&self) -> &[String] {
        &self.signals
    }

    /// The simple tests inside the expression: a signal compared with a
    /// literal (`conntrack.fill > 0.9`, `tls.verify == 'ok'`), or a flag read
    /// as a condition (`pmtu.blackhole`, `!conn.idle`). Comparisons of two
    /// signals, arithmetic and macros are not simple tests and are skipped.
    pub fn comparisons(&self) -> Vec<Comparison> {
        let mut out = Vec::new();
        let root = self.program.expression();
        if let Some(c) = flag_test(root) {
            out.push(c);
        }
        walk(root, &mut |x| {
            let Expr::Call(call) = &x.expr else {
                return true;
            };
            if let Some(c) = comparison(&call.func_name, &call.args) {
                out.push(c);
                return false;
            }
            let logical = [
                operators::LOGICAL_AND,
                operators::LOGICAL_OR,
                operators::LOGICAL_NOT,
            ];
            if logical.contains(&call.func_name.as_str()) {
                out.extend(call.args.iter().filter_map(|a| {
                    let negated = call.func_name == operators::LOGICAL_NOT;
                    flag_test(a).map(|mut c| {
                        if negated {
                            c.value = SignalValue::Bool(false);
                        }
                        c
                    })
                }));
            }
            true
        });
        out
    }

    /// True, False, or Unknown when a signal it needs is absent.
    pub fn evaluate(&self, env: &SignalEnv) -> Truth {
        match self.program.execute(&env.context) {
            Ok(Value::Bool(true)) => Truth::True,
            Ok(Value::Bool(false)) => Truth::False,
            // Missing data (or a value of the wrong type) decides nothing.
            Ok(_) | Err(_) => Truth::Unknown,
        }
    }
}

/// How a [`Comparison`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    fn from_function(name: &str) -> Option<Op> {
        Some(match name {
            operators::GREATER => Op::Gt,
            operators::GREATER_EQUALS => Op::Ge,
            operators::LESS => Op::Lt,
            operators::LESS_EQUALS => Op::Le,
            operators::EQUALS => Op::Eq,
            operators::NOT_EQUALS => Op::Ne,
            _ => return None,
        })
    }

    /// The same test with its sides swapped: `0.9 < x` is `x > 0.9`.
    fn flipped(self) -> Op {
        match self {
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Eq | Op::Ne => self,
        }
    }
}

/// One simple test a clause makes of one signal: `signal op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub signal: String,
    pub op: Op,
    pub value: SignalValue,
}

impl Comparison {
    /// Whether `observed` passes the test; values of another type do not.
    pub fn passes(&self, observed: &SignalValue) -> bool {
        use std::cmp::Ordering;
        let ordering = match (observed, &self.value) {
            (SignalValue::Number(a), SignalValue::Number(b)) => a.partial_cmp(b),
            (SignalValue::Bool(a), SignalValue::Bool(b)) => Some(a.cmp(b)),
            (SignalValue::Text(a), SignalValue::Text(b)) => Some(a.cmp(b)),
            _ => None,
        };
        let Some(o) = ordering else {
            return false;
        };
        match self.op {
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
        }
    }
}

/// `signal op literal` or `literal op signal`.
fn comparison(function: &str, args: &[IdedExpr]) -> Option<Comparison> {
    let op = Op::from_function(function)?;
    let [left, right] = args else {
        return None;
    };
    let (name, literal, op) = match (qualified_name(&left.expr), literal(&right.expr)) {
        (Some(name), Some(value)) => (name, value, op),
        _ => (
            qualified_name(&right.expr)?,
            literal(&left.expr)?,
            op.flipped(),
        ),
    };
    Some(Comparison {
        signal: name.join("."),
        op,
        value: literal,
    })
}

/// A bare dotted name used as a condition: the flag is tested for true.
fn flag_test(e: &IdedExpr) -> Option<Comparison> {
    let name = qualified_name(&e.expr)?;
    (name.len() == 2).then(|| Comparison {
        signal: name.join("."),
        op: Op::Eq,
        value: SignalValue::Bool(true),
    })
}

fn literal(e: &Expr) -> Option<SignalValue> {
    let Expr::Literal(l) = e else {
        return None;
    };
    Some(match l {
        LiteralValue::Boolean(b) => SignalValue::Bool(*b.inner()),
        LiteralValue::Double(d) => SignalValue::Number(*d.inner()),
        LiteralValue::Int(i) => SignalValue::Number(*i.inner() as f64),
        LiteralValue::UInt(u) => SignalValue::Number(*u.inner() as f64),
        LiteralValue::String(s) => SignalValue::Text(s.inner().to_owned()),
        LiteralValue::Bytes(_) | LiteralValue::Null => return None,
    })
}

/// The byte offset `at` as a 1-based column on its line.
fn column_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at].chars().count() + 1
}

/// Checks a dotted name against the catalogue.
fn check_name(name: &str) -> Result<(), String> {
    if catalogue::lookup(name).is_some() {
        return Ok(());
    }
    match name.split_once('.') {
        None if groups().contains(&name) => Err(format!(
            "`{name}` is a group of signals; name one, e.g. `{name}.…` (see /signals)"
        )),
        None => Err(format!(
            "unknown name `{name}`; signals look like `tcp.close_wait_share`"
        )),
        Some(_) => Err(format!(
            "unknown signal `{name}` (see /signals for the list)"
        )),
    }
}

/// Variables introduced by macros (`all`, `exists`, …): not signal names.
fn bound_variables(e: &IdedExpr) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(e, &mut |x| {
        if let Expr::Comprehension(c) = &x.expr {
            out.insert(c.iter_var.clone());
            out.insert(c.accu_var.clone());
        }
        true
    });
    out
}

/// Dotted names the expression reads, with the id of their node. A name is
/// at most `group.signal`: deeper selections are reported as they are so the
/// catalogue check rejects them.
fn collect_names(e: &IdedExpr, bound: &BTreeSet<String>, out: &mut Vec<(String, u64)>) {
    walk(e, &mut |x| match qualified_name(&x.expr) {
        Some(segments) if bound.contains(segments[0]) => false,
        Some(segments) => {
            out.push((segments.join("."), root_id(x)));
            false
        }
        None => true,
    });
}

/// The id of the identifier a selection chain starts from: where the name
/// begins in the text (a selection's own position is its dot).
fn root_id(e: &IdedExpr) -> u64 {
    match &e.expr {
        Expr::Select(s) => root_id(&s.operand),
        _ => e.id,
    }
}

/// `a.b.c` as ["a", "b", "c"]; None for anything but identifiers and selections.
fn qualified_name(e: &Expr) -> Option<Vec<&str>> {
    match e {
        Expr::Ident(name) => Some(vec![name.as_str()]),
        Expr::Select(s) if !s.test => {
            let mut v = qualified_name(&s.operand.expr)?;
            v.push(&s.field);
            Some(v)
        }
        _ => None,
    }
}

/// Visits every node; `visit` returns whether to descend into it.
fn walk(e: &IdedExpr, visit: &mut dyn FnMut(&IdedExpr) -> bool) {
    if !visit(e) {
        return;
    }
    match &e.expr {
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                walk(t, visit);
            }
            c.args.iter().for_each(|a| walk(a, visit));
        }
        Expr::Comprehension(c) => {
            for part in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                walk(part, visit);
            }
        }
        Expr::List(l) => l.elements.iter().for_each(|x| walk(x, visit)),
        Expr::Map(m) => m.entries.iter().for_each(|en| walk_entry(&en.expr, visit)),
        Expr::Struct(s) => s.entries.iter().for_each(|en| walk_entry(&en.expr, visit)),
        Expr::Select(s) => walk(&s.operand, visit),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn walk_entry(e: &EntryExpr, visit: &mut dyn FnMut(&IdedExpr) -> bool) {
    match e {
        EntryExpr::MapEntry(m) => {
            walk(&m.key, visit);
            walk(&m.value, visit);
        }
        EntryExpr::StructField(f) => walk(&f.value, visit),
    }
}

/// The signals of one report as CEL variables: one map per group.
pub struct SignalEnv {
    context: Context<'static, 'static>,
}

impl SignalEnv {
    pub fn new(signals: &Signals) -> SignalEnv {
        let mut by_group: BTreeMap<&str, HashMap<String, Value>> = BTreeMap::new();
        for (name, value) in signals.iter() {
            let Some((group, field)) = name.split_once('.') else {
                continue;
            };
            by_group
                .entry(group)
                .or_default()
                .insert(field.to_owned(), to_cel(value));
        }
        let mut context = Context::default();
        for (group, fields) in by_group {
            context.add_variable_from_value(group, fields);
        }
        SignalEnv { context }
    }
}

fn to_cel(v: &SignalValue) -> Value {
    match v {
        SignalValue::Number(n) => Value::Float(*n),
        SignalValue::Bool(b) => Value::Bool(*b),
        SignalValue::Text(s) => Value::String(s.clone().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(pairs: &[(&str, SignalValue)]) -> Signals {
        let mut s = Signals::default();
        for (k, v) in pairs {
            s.set(*k, v.clone());
        }
        s
    }

    fn eval(when: &str, s: &Signals) -> Truth {
        Expression::compile(when)
            .unwrap()
            .evaluate(&SignalEnv::new(s))
    }

    #[test]
    fn dotted_names_read_naturally_and_compare_with_ints_and_floats() {
        let s = signals(&[
            ("tcp.close_wait_share", SignalValue::Number(0.8)),
            ("tcp.time_wait_count", SignalValue::Number(4000.0)),
            ("tls.verify", SignalValue::Text("unknown_issuer".into())),
            ("pmtu.blackhole", SignalValue::Bool(true)),
        ]);
        assert_eq!(eval("tcp.close_wait_share > 0.5", &s), Truth::True);
        assert_eq!(eval("tcp.time_wait_count > 1000", &s), Truth::True);
        assert_eq!(eval("tcp.time_wait_count < 1000", &s), Truth::False);
        assert_eq!(eval("tls.verify == 'unknown_issuer'", &s), Truth::True);
        assert_eq!(
            eval("pmtu.blackhole && tcp.close_wait_share >= 0.8", &s),
            Truth::True
        );
    }

    #[test]
    fn an_absent_signal_is_unknown_not_false() {
        let s = signals(&[("tcp.close_wait_share", SignalValue::Number(0.8))]);
        assert_eq!(eval("conntrack.fill > 0.9", &s), Truth::Unknown);
        assert_eq!(eval("tcp.time_wait_count > 10", &s), Truth::Unknown);
        assert_eq!(eval("!(conntrack.fill > 0.9)", &s), Truth::Unknown);
        // CEL decides when the present side settles it, on either side.
        assert_eq!(
            eval("conntrack.fill > 0.9 || tcp.close_wait_share > 0.5", &s),
            Truth::True
        );
        assert_eq!(
            eval("conntrack.fill > 0.9 && tcp.close_wait_share > 0.9", &s),
            Truth::False
        );
        assert_eq!(
            eval("tcp.close_wait_share > 0.5 || conntrack.fill > 0.9", &s),
            Truth::True
        );
        assert_eq!(
            eval("tcp.close_wait_share > 0.9 || conntrack.fill > 0.9", &s),
            Truth::Unknown
        );
    }

    #[test]
    fn bad_expressions_are_rejected_with_a_column() {
        let e = Expression::compile("tcp.close_wait_share >").unwrap_err();
        assert!(e.column >= 22, "{e}");
        let e =
            Expression::compile("conntrack.fill > 0.9 && tcp.close_wiat_share > 0.5").unwrap_err();
        assert_eq!(e.column, 25, "{e}");
        assert!(e.message.contains("tcp.close_wiat_share"), "{e}");
        let e = Expression::compile("tcp > 1").unwrap_err();
        assert!(e.message.contains("group"), "{e}");
        let e = Expression::compile("foo == 1").unwrap_err();
        assert!(e.message.contains("unknown name"), "{e}");
    }

    #[test]
    fn simple_tests_are_read_out_of_an_expression() {
        let x = Expression::compile(
            "connect.refused_share > 0.005 && 0.3 > connect.refused_share && pmtu.blackhole \
             && !conn.idle && tls.verify == 'ok' && tls.supports_tls12 != tls.supports_tls13",
        )
        .unwrap();
        let mut found: Vec<String> = x
            .comparisons()
            .iter()
            .map(|c| format!("{} {} {}", c.signal, c.op.symbol(), c.value))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                "conn.idle == false",
                "connect.refused_share < 0.300",
                "connect.refused_share > 0.005",
                "pmtu.blackhole == true",
                "tls.verify == \"ok\"",
            ]
        );
        let flag = Expression::compile("pmtu.blackhole").unwrap().comparisons();
        assert_eq!(flag.len(), 1);
        assert!(flag[0].passes(&SignalValue::Bool(true)));
        assert!(!flag[0].passes(&SignalValue::Bool(false)));
        let gt = &Expression::compile("conntrack.fill > 0.9")
            .unwrap()
            .comparisons()[0];
        assert!(gt.passes(&SignalValue::Number(0.95)));
        assert!(!gt.passes(&SignalValue::Number(0.9)));
        assert!(!gt.passes(&SignalValue::Text("0.95".into())));
    }

    #[test]
    fn families_and_macro_variables_are_accepted() {
        let x =
            Expression::compile("logs.too_many_open_files > 0 && [1, 2].all(n, n > 0)").unwrap();
        assert_eq!(x.signals(), ["logs.too_many_open_files"]);
        assert!(Expression::compile("config.proxy_upstream_keepalive_timeout_s > 5").is_ok());
    }
}
