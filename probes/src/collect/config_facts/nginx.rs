//! nginx configuration: a reader that splits text into directives the way
//! nginx's own `ngx_conf_read_token` does, `include` resolved as nginx
//! resolves it, and the timeouts the keep-alive and idle-timeout playbooks
//! compare against.
//!
//! Why not a crate: `nginx-config` knows a fixed set of directives and
//! rejects the rest; `nginx-lint-parser` is a linter's syntax tree (rowan)
//! without include resolution. What we need is ~150 lines and must follow
//! nginx exactly (comments only at a token start, `${var}`, escapes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

/// Defaults from nginx's sources, used when a directive is absent:
/// `ngx_http_upstream_keepalive_module.c` merges `keepalive_timeout` to
/// 60000 ms (the directive exists since 1.15.3; older nginx had no timer);
/// `ngx_http_core_module.c` merges `keepalive_timeout` to 75000 ms;
/// `ngx_http_proxy_module.c` merges `proxy_read_timeout` to 60000 ms.
/// The same values are in nginx.org's module documentation.
const UPSTREAM_KEEPALIVE_DEFAULT_MS: u64 = 60_000;
const CLIENT_KEEPALIVE_DEFAULT_MS: u64 = 75_000;
const PROXY_READ_DEFAULT_MS: u64 = 60_000;

/// Nested includes deeper than this are a loop (nginx itself recurses until
/// it runs out of file descriptors).
const MAX_INCLUDE_DEPTH: usize = 32;

/// One directive: `name args… ;` or `name args… { block }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    /// Directive name.
    pub name: String,
    /// Arguments, unquoted and unescaped.
    pub args: Vec<String>,
    /// File it was read from.
    pub file: String,
    /// Line its name is on.
    pub line: usize,
    /// The block, for `name { … }`.
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    fn body(&self) -> Result<&[Directive]> {
        self.block
            .as_deref()
            .ok_or_else(|| anyhow!("{}: \"{}\" has no opening \"{{\"", self.at(), self.name))
    }
}

/// Where files come from: the disk, or the files of an `nginx -T` dump.
enum Files {
    Disk,
    Dump(BTreeMap<PathBuf, String>),
}

/// Reads a configuration: its main file and everything it includes.
struct Loader {
    /// Relative includes resolve against the main file's directory, as
    /// nginx's conf prefix does when started with `-c FILE`.
    prefix: PathBuf,
    files: Files,
    depth: usize,
}

/// Reads `path` (or `nginx -T` output kept in it) and resolves includes.
pub fn load_file(path: &Path) -> Result<Vec<Directive>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match split_dump(&text) {
        Some(files) => load_dump(files),
        None => {
            let full = std::path::absolute(path)?;
            let mut l = Loader {
                prefix: full.parent().map(Path::to_path_buf).unwrap_or_default(),
                files: Files::Disk,
                depth: 0,
            };
            l.parse_text(&text, &path.display().to_string())
        }
    }
}

/// Reads configuration text that came without a file (stdin): `nginx -T`
/// output resolves includes within the dump; plain text against `cwd`.
pub fn load_text(text: &str, name: &str, cwd: &Path) -> Result<Vec<Directive>> {
    match split_dump(text) {
        Some(files) => load_dump(files),
        None => Loader {
            prefix: cwd.to_path_buf(),
            files: Files::Disk,
            depth: 0,
        }
        .parse_text(text, name),
    }
}

fn load_dump(files: Vec<(PathBuf, String)>) -> Result<Vec<Directive>> {
    let (main, text) = files.first().cloned().context("empty nginx -T output")?;
    let mut l = Loader {
        prefix: main.parent().map(Path::to_path_buf).unwrap_or_default(),
        files: Files::Dump(files.into_iter().collect()),
        depth: 0,
    };
    l.parse_text(&text, &main.display().to_string())
}

/// `nginx -T` prints `# configuration file PATH:` before each file it read,
/// the main file first. Lines before the first marker (nginx's "syntax is
/// ok" when stderr was merged) are not configuration.
fn split_dump(text: &str) -> Option<Vec<(PathBuf, String)>> {
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        let marker = line
            .strip_prefix("# configuration file ")
            .and_then(|r| r.trim_end().strip_suffix(':'));
        match (marker, files.last_mut()) {
            (Some(path), _) => files.push((PathBuf::from(path), String::new())),
            (None, Some((_, body))) => body.push_str(line),
            (None, None) => {}
        }
    }
    (!files.is_empty()).then_some(files)
}

impl Loader {
    fn parse_text(&mut self, text: &str, file: &str) -> Result<Vec<Directive>> {
        let mut lx = Lexer {
            src: text.as_bytes(),
            pos: 0,
            line: 1,
            file,
        };
        self.block(&mut lx, false)
    }

    /// Directives up to the end of the file, or the `}` closing a block.
    fn block(&mut self, lx: &mut Lexer<'_>, nested: bool) -> Result<Vec<Directive>> {
        let mut out = Vec::new();
        let mut words: Vec<String> = Vec::new();
        let mut first = 0;
        loop {
            let Some((tok, line)) = lx.next()? else {
                if nested || !words.is_empty() {
                    bail!(
                        "{}: unexpected end of file, expecting \"}}\" or \";\"",
                        lx.here()
                    );
                }
                return Ok(out);
            };
            let file = lx.file;
            let directive = |words: &mut Vec<String>, line, block| {
                let mut args = std::mem::take(words);
                Directive {
                    name: args.remove(0),
                    args,
                    file: file.to_string(),
                    line,
                    block,
                }
            };
            match tok {
                Tok::Word(w) => {
                    if words.is_empty() {
                        first = line;
                    }
                    words.push(w);
                }
                Tok::Semi if words.is_empty() => bail!("{}:{line}: unexpected \";\"", lx.file),
                Tok::Semi => {
                    let d = directive(&mut words, first, None);
                    if d.name == "include" {
                        out.extend(self.include(&d)?);
                    } else {
                        out.push(d);
                    }
                }
                Tok::Open if words.is_empty() => bail!("{}:{line}: unexpected \"{{\"", lx.file),
                Tok::Open => {
                    let body = self.block(lx, true)?;
                    out.push(directive(&mut words, first, Some(body)));
                }
                Tok::Close if !nested || !words.is_empty() => {
                    bail!("{}:{line}: unexpected \"}}\"", lx.file)
                }
                Tok::Close => return Ok(out),
            }
        }
    }

    /// `include PATTERN;` in any context: the files' directives take its place.
    fn include(&mut self, d: &Directive) -> Result<Vec<Directive>> {
        let [arg] = d.args.as_slice() else {
            bail!("{}: \"include\" takes one argument", d.at());
        };
        if self.depth >= MAX_INCLUDE_DEPTH {
            bail!(
                "{}: includes nested deeper than {MAX_INCLUDE_DEPTH} (a loop?)",
                d.at()
            );
        }
        let full = self.prefix.join(arg);
        let paths = if arg.contains(['*', '?', '[']) {
            self.glob(&full).with_context(|| d.at())?
        } else {
            vec![full]
        };
        self.depth += 1;
        let mut out = Vec::new();
        for p in paths {
            let text = self
                .read(&p)
                .with_context(|| format!("{}: include", d.at()))?;
            out.extend(self.parse_text(&text, &p.display().to_string())?);
        }
        self.depth -= 1;
        Ok(out)
    }

    /// Files matching an include pattern, sorted, as glob(3) returns them
    /// to nginx; no match is not an error (nginx's `gl.test`).
    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>> {
        let text = pattern.to_str().context("include pattern is not UTF-8")?;
        let opts = glob::MatchOptions {
            require_literal_leading_dot: true,
            ..Default::default()
        };
        match &self.files {
            Files::Disk => glob::glob_with(text, opts)?
                .map(|p| p.map_err(Into::into))
                .collect(),
            Files::Dump(files) => {
                let pat = glob::Pattern::new(text)?;
                Ok(files
                    .keys()
                    .filter(|p| pat.matches_path_with(p, opts))
                    .cloned()
                    .collect())
            }
        }
    }

    fn read(&self, path: &Path) -> Result<String> {
        match &self.files {
            Files::Disk => {
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
            }
            Files::Dump(files) => files
                .get(path)
                .cloned()
                .with_context(|| format!("{} is not in the nginx -T output", path.display())),
        }
    }
}

enum Tok {
    Word(String),
    Semi,
    Open,
    Close,
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    file: &'a str,
}

impl Lexer<'_> {
    fn here(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// The next token and the line it starts on.
    fn next(&mut self) -> Result<Option<(Tok, usize)>> {
        // `#` opens a comment only where a token could start.
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.bump();
                }
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
        let line = self.line;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let tok = match c {
            b';' | b'{' | b'}' => {
                self.bump();
                match c {
                    b';' => Tok::Semi,
                    b'{' => Tok::Open,
                    _ => Tok::Close,
                }
            }
            b'"' | b'\'' => Tok::Word(self.quoted(c)?),
            _ => Tok::Word(self.word()),
        };
        Ok(Some((tok, line)))
    }

    /// A quoted argument; nginx wants a separator right after the quote.
    fn quoted(&mut self, quote: u8) -> Result<String> {
        let start = self.line;
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => bail!(
                    "{}:{start}: unexpected end of file in a quoted string",
                    self.file
                ),
                Some(b'\\') => self.escape(&mut out),
                Some(c) if c == quote => break,
                Some(c) => out.push(c),
            }
        }
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b')') => {
                Ok(String::from_utf8_lossy(&out).into_owned())
            }
            Some(c) => bail!("{}: unexpected \"{}\"", self.here(), c as char),
        }
    }

    /// An unquoted argument: up to whitespace, `;` or `{` (a `{` right
    /// after `$` belongs to a `${var}`; `}` and `#` inside a word are text).
    fn word(&mut self) -> String {
        let mut out = Vec::new();
        let mut variable = false;
        while let Some(c) = self.peek() {
            let after_dollar = std::mem::take(&mut variable);
            match c {
                b'{' if after_dollar => {}
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' => break,
                b'\\' => {
                    self.bump();
                    self.escape(&mut out);
                    continue;
                }
                b'$' => variable = true,
                _ => {}
            }
            self.bump();
            out.push(c);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// After a backslash: nginx unescapes `\" \' \\ \t \r \n` and keeps
    /// any other pair as written.
    fn escape(&mut self, out: &mut Vec<u8>) {
        let Some(c) = self.bump() else {
            out.push(b'\\');
            return;
        };
        match c {
            b'"' | b'\'' | b'\\' => out.push(c),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            _ => out.extend([b'\\', c]),
        }
    }
}

/// nginx's `ngx_parse_time` for millisecond-valued directives: parts in
/// decreasing units (`w d h m s ms`), each at most once, spaces between
/// them allowed; a bare number counts as seconds and must come last.
/// `y` and `M` are for second-valued directives only.
pub fn parse_msec(text: &str) -> Option<u64> {
    // (suffix, milliseconds, rank); ranks must increase left to right.
    const UNITS: [(&str, u64, u8); 6] = [
        ("ms", 1, 5),
        ("w", 604_800_000, 0),
        ("d", 86_400_000, 1),
        ("h", 3_600_000, 2),
        ("m", 60_000, 3),
        ("s", 1000, 4),
    ];
    const BARE: u8 = 6;
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last: Option<u8> = None;
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return last.map(|_| total);
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (scale, rank) = match UNITS.iter().find(|(u, ..)| rest.starts_with(u)) {
            Some((u, scale, rank)) => {
                rest = &rest[u.len()..];
                (*scale, *rank)
            }
            None if rest.is_empty() || rest.starts_with(' ') => {
                if last.is_some_and(|r| r >= 4) {
                    return None; // seconds after `s` or `ms`
                }
                (1000, BARE)
            }
            None => return None,
        };
        if last.is_some_and(|r| rank <= r) {
            return None;
        }
        last = Some(rank);
        total = total.checked_add(n.checked_mul(scale)?)?;
    }
}

/// Seconds as a JSON number: an integer when whole.
fn seconds(ms: u64) -> Value {
    if ms.is_multiple_of(1000) {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

/// The value of a time directive set in this block itself, if any; like
/// nginx, a second one in the same block is an error.
fn own_msec(block: &[Directive], name: &str) -> Result<Option<u64>> {
    let mut found = block.iter().filter(|d| d.name == name);
    let Some(d) = found.next() else {
        return Ok(None);
    };
    if let Some(dup) = found.next() {
        bail!("{}: \"{name}\" directive is duplicate", dup.at());
    }
    let arg = d
        .args
        .first()
        .ok_or_else(|| anyhow!("{}: \"{name}\" needs a value", d.at()))?;
    parse_msec(arg)
        .map(Some)
        .ok_or_else(|| anyhow!("{}: invalid time \"{arg}\" in \"{name}\"", d.at()))
}

/// Inherited time settings at one level of http → server → location.
#[derive(Clone, Copy)]
struct Scope {
    client_keepalive_ms: u64,
    proxy_read_ms: u64,
}

impl Scope {
    fn enter(self, block: &[Directive]) -> Result<Scope> {
        Ok(Scope {
            client_keepalive_ms: own_msec(block, "keepalive_timeout")?
                .unwrap_or(self.client_keepalive_ms),
            proxy_read_ms: own_msec(block, "proxy_read_timeout")?.unwrap_or(self.proxy_read_ms),
        })
    }
}

/// One `upstream` block.
struct Upstream {
    name: String,
    /// `keepalive N`: idle connections cached per worker; None = no cache.
    keepalive: Option<u64>,
    timeout_ms: u64,
}

#[derive(Default)]
struct Seen {
    upstreams: Vec<Upstream>,
    client_keepalive_ms: Vec<u64>,
    proxy_read_ms: Vec<u64>,
}

/// The facts a configuration sets (see `facts` for the names).
pub fn facts(conf: &[Directive]) -> Result<BTreeMap<String, Value>> {
    let mut seen = Seen::default();
    let root = Scope {
        client_keepalive_ms: CLIENT_KEEPALIVE_DEFAULT_MS,
        proxy_read_ms: PROXY_READ_DEFAULT_MS,
    };
    for http in conf.iter().filter(|d| d.name == "http") {
        let body = http.body()?;
        let scope = root.enter(body)?;
        for d in body {
            match d.name.as_str() {
                "upstream" => seen.upstreams.push(upstream(d)?),
                "server" => locations(d, scope, &mut seen)?,
                _ => {}
            }
        }
    }
    Ok(summarise(&seen))
}

fn upstream(d: &Directive) -> Result<Upstream> {
    let body = d.body()?;
    let name = d
        .args
        .first()
        .ok_or_else(|| anyhow!("{}: \"upstream\" needs a name", d.at()))?;
    let keepalive = match body.iter().find(|k| k.name == "keepalive") {
        None => None,
        Some(k) => Some(
            k.args
                .first()
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| anyhow!("{}: \"keepalive\" needs a positive count", k.at()))?,
        ),
    };
    Ok(Upstream {
        name: name.clone(),
        keepalive,
        timeout_ms: own_msec(body, "keepalive_timeout")?.unwrap_or(UPSTREAM_KEEPALIVE_DEFAULT_MS),
    })
}

/// A `server` or `location` block and the locations inside it: every
/// level's effective client keep-alive, and the read timeout wherever a
/// request is proxied.
fn locations(d: &Directive, parent: Scope, seen: &mut Seen) -> Result<()> {
    let body = d.body()?;
    let scope = parent.enter(body)?;
    seen.client_keepalive_ms.push(scope.client_keepalive_ms);
    if body.iter().any(|x| x.name == "proxy_pass") {
        seen.proxy_read_ms.push(scope.proxy_read_ms);
    }
    for loc in body.iter().filter(|x| x.name == "location") {
        locations(loc, scope, seen)?;
    }
    Ok(())
}

/// Facts:
/// - `proxy.upstream_keepalive` (bool): some upstream caches idle connections;
/// - `proxy.upstream_keepalive_timeout_s`: the smallest timeout among
///   upstreams with `keepalive`. A backend that closes idle connections
///   sooner than the smallest closes sooner than every one, so a race the
///   server flags against it holds whichever upstream the backend is in;
/// - `proxy.upstream.NAME.keepalive_timeout_s` for each, when there are several;
/// - `proxy.read_timeout_s`: smallest effective `proxy_read_timeout`
///   among blocks that `proxy_pass`;
/// - `proxy.client_keepalive_timeout_s`: smallest effective client
///   `keepalive_timeout` among `server` and `location` blocks.
fn summarise(seen: &Seen) -> BTreeMap<String, Value> {
    let mut f = BTreeMap::new();
    let cached: Vec<&Upstream> = seen
        .upstreams
        .iter()
        .filter(|u| u.keepalive.is_some())
        .collect();
    if !seen.upstreams.is_empty() {
        f.insert("proxy.upstream_keepalive".into(), json!(!cached.is_empty()));
    }
    if let Some(min) = cached.iter().map(|u| u.timeout_ms).min() {
        f.insert("proxy.upstream_keepalive_timeout_s".into(), seconds(min));
    }
    if cached.len() > 1 {
        for u in &cached {
            f.insert(
                format!("proxy.upstream.{}.keepalive_timeout_s", u.name),
                seconds(u.timeout_ms),
            );
        }
    }
    if let Some(min) = seen.proxy_read_ms.iter().min() {
        f.insert("proxy.read_timeout_s".into(), seconds(*min));
    }
    if let Some(min) = seen.client_keepalive_ms.iter().min() {
        f.insert("proxy.client_keepalive_timeout_s".into(), seconds(*min));
    }
    f
}

#[cfg(test)]
mod tests;
