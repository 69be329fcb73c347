use std::path::Path;

use serde_json::json;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn parse(text: &str) -> Result<Vec<Directive>> {
    load_text(text, "test.conf", Path::new("/nonexistent"))
}

fn err(text: &str) -> String {
    format!("{:#}", parse(text).and_then(|c| facts(&c)).unwrap_err())
}

#[test]
fn tokens_follow_nginx_rules() {
    let conf = parse(concat!(
        "# a comment\n",
        "log_format main '$remote_addr \"$request\"' # trailing comment\n",
        "    \"x\\\"y\";\n",
        "set $a ${b}c#d;\n",
        "return 200 a\\ b;\n",
        "location ~ ^/(a|b)$ { }\n",
    ))
    .unwrap();
    assert_eq!(conf[0].name, "log_format");
    assert_eq!(conf[0].args, ["main", "$remote_addr \"$request\"", "x\"y"]);
    assert_eq!(conf[0].line, 2);
    // `#` inside a word is text; `${b}` keeps its braces.
    assert_eq!(conf[1].args, ["$a", "${b}c#d"]);
    // An escaped space joins the word; nginx keeps the backslash itself.
    assert_eq!(conf[2].args, ["200", "a\\ b"]);
    assert_eq!(conf[3].args, ["~", "^/(a|b)$"]);
    assert_eq!(conf[3].block, Some(vec![]));
}

#[test]
fn times_parse_like_nginx() {
    for (text, ms) in [
        ("60", Some(60_000)),
        ("60s", Some(60_000)),
        ("500ms", Some(500)),
        ("1m", Some(60_000)),
        ("1m30s", Some(90_000)),
        ("1m 30s", Some(90_000)),
        ("1h 1", Some(3_601_000)),
        ("1d", Some(86_400_000)),
        ("1w", Some(604_800_000)),
        ("1s500ms", Some(1500)),
        ("0", Some(0)),
        ("", None),
        ("s", None),
        ("1y", None), // years and months: second-valued directives only
        ("1M", None),
        ("30s1m", None), // units must decrease
        ("1m1m", None),
        ("1s 5", None),
        ("5 1s", None),
        ("1.5s", None),
        ("-1", None),
        ("99999999999999999999", None),
    ] {
        assert_eq!(parse_msec(text), ms, "{text:?}");
    }
}

#[test]
fn upstream_keepalive_timeout_and_defaults() {
    let f = facts(
        &parse(
            "http {\n\
               upstream a { server 10.0.0.1:80; keepalive 8; keepalive_timeout 4s; }\n\
               upstream b { server 10.0.0.2:80; keepalive 8; }\n\
               upstream c { server 10.0.0.3:80; keepalive_timeout 1s; }\n\
               server { listen 80; location / { proxy_pass http://a; } }\n\
             }\n",
        )
        .unwrap(),
    )
    .unwrap();
    // b has no keepalive_timeout: nginx's 60 s; c caches nothing (no `keepalive`).
    assert_eq!(f["proxy.upstream.a.keepalive_timeout_s"], json!(4));
    assert_eq!(f["proxy.upstream.b.keepalive_timeout_s"], json!(60));
    assert!(!f.contains_key("proxy.upstream.c.keepalive_timeout_s"));
    assert_eq!(f["proxy.upstream_keepalive_timeout_s"], json!(4));
    assert_eq!(f["proxy.upstream_keepalive"], json!(true));
    assert_eq!(f["proxy.read_timeout_s"], json!(60));
    assert_eq!(f["proxy.client_keepalive_timeout_s"], json!(75));
}

#[test]
fn one_upstream_gives_the_single_fact_only() {
    let f = facts(
        &parse("http { upstream app { server u:1; keepalive 2; keepalive_timeout 150ms; } }")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(f["proxy.upstream_keepalive_timeout_s"], json!(0.15));
    assert_eq!(
        f.keys()
            .filter(|k| k.starts_with("proxy.upstream."))
            .count(),
        0
    );
    let f = facts(&parse("http { upstream app { server u:1; } }").unwrap()).unwrap();
    assert_eq!(f["proxy.upstream_keepalive"], json!(false));
    assert!(!f.contains_key("proxy.upstream_keepalive_timeout_s"));
}

#[test]
fn timeouts_inherit_http_server_location() {
    let f = facts(
        &parse(
            "http {\n\
               keepalive_timeout 30s 25s;\n\
               proxy_read_timeout 2m;\n\
               server { location /api { proxy_pass http://x; location /api/slow { proxy_read_timeout 5m; proxy_pass http://x; } } }\n\
               server { keepalive_timeout 10; location / { proxy_pass http://y; proxy_read_timeout 45s; } }\n\
             }\n",
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(f["proxy.client_keepalive_timeout_s"], json!(10));
    assert_eq!(f["proxy.read_timeout_s"], json!(45));
    assert!(!f.contains_key("proxy.upstream_keepalive"));
}

#[test]
fn includes_resolve_against_the_main_files_directory_with_globs() {
    let d = tempfile::tempdir().unwrap();
    let main = write(
        d.path(),
        "nginx.conf",
        "events {}\nhttp {\n  include conf.d/*.conf;\n  include sites/none-*.conf;\n}\n",
    );
    // Relative to nginx.conf's directory, not to the including file's.
    write(d.path(), "conf.d/10-up.conf", "include snippets/up.inc;\n");
    write(
        d.path(),
        "snippets/up.inc",
        "upstream app { server u:1; keepalive 4; keepalive_timeout 20s; }\n",
    );
    write(
        d.path(),
        "conf.d/20-site.conf",
        "server { keepalive_timeout 5s; }\n",
    );
    write(
        d.path(),
        "conf.d/.hidden.conf",
        "server { keepalive_timeout 1s; }\n",
    );
    write(
        d.path(),
        "conf.d/30-site.conf.bak",
        "server { keepalive_timeout 2s; }\n",
    );
    let f = facts(&load_file(&main).unwrap()).unwrap();
    assert_eq!(f["proxy.upstream_keepalive_timeout_s"], json!(20));
    assert_eq!(f["proxy.client_keepalive_timeout_s"], json!(5));
}

#[test]
fn nginx_t_output_is_read_as_its_files() {
    let dump = "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n\
                nginx: configuration file /etc/nginx/nginx.conf test is successful\n\
                # configuration file /etc/nginx/nginx.conf:\n\
                http {\n    include /etc/nginx/conf.d/*.conf;\n}\n\n\
                # configuration file /etc/nginx/conf.d/up.conf:\n\
                upstream app { server u:1; keepalive 4; keepalive_timeout 1m; }\n\
                bad }\n";
    // The second file's line 2 is the error: positions are per file.
    let e = format!(
        "{:#}",
        load_text(dump, "<stdin>", Path::new("/")).unwrap_err()
    );
    assert!(e.contains("/etc/nginx/conf.d/up.conf:2"), "{e}");
    let dump = dump.replace("bad }\n", "");
    let f = facts(&load_text(&dump, "<stdin>", Path::new("/")).unwrap()).unwrap();
    assert_eq!(f["proxy.upstream_keepalive_timeout_s"], json!(60));
}

#[test]
fn bad_input_names_file_and_line() {
    for (text, says) in [
        (
            "http {\n  server {\n",
            "test.conf:3: unexpected end of file",
        ),
        ("http { }\n}\n", "test.conf:2: unexpected \"}\""),
        ("http {\n ;\n}", "test.conf:2: unexpected \";\""),
        (
            "http {\n keepalive_timeout 1y;\n}",
            "test.conf:2: invalid time \"1y\"",
        ),
        (
            "http {\n keepalive_timeout 1s;\n keepalive_timeout 2s;\n}",
            "test.conf:3: \"keepalive_timeout\" directive is duplicate",
        ),
        (
            "http {\n upstream a { keepalive x; }\n}",
            "test.conf:2: \"keepalive\" needs a positive count",
        ),
        ("http;", "test.conf:1: \"http\" has no opening"),
        ("log 'a'b;", "test.conf:1: unexpected \"b\""),
        (
            "log \"open;\n\n",
            "test.conf:1: unexpected end of file in a quoted string",
        ),
    ] {
        let e = err(text);
        assert!(e.contains(says), "{text:?}: {e}");
    }
}

#[test]
fn include_errors_say_where() {
    let d = tempfile::tempdir().unwrap();
    let main = write(
        d.path(),
        "nginx.conf",
        "http {\n  include missing.conf;\n}\n",
    );
    let e = format!("{:#}", load_file(&main).unwrap_err());
    assert!(
        e.contains("nginx.conf:2: include") && e.contains("missing.conf"),
        "{e}"
    );
    let main = write(d.path(), "loop.conf", "include loop.conf;\n");
    let e = format!("{:#}", load_file(&main).unwrap_err());
    assert!(e.contains("nested deeper"), "{e}");
    let main = write(d.path(), "inc.conf", "http { include sub/bad.conf; }\n");
    write(
        d.path(),
        "sub/bad.conf",
        "upstream u {\n keepalive_timeout soon;\n}\n",
    );
    let e = format!(
        "{:#}",
        load_file(&main).and_then(|c| facts(&c)).unwrap_err()
    );
    assert!(e.contains("sub/bad.conf:2: invalid time \"soon\""), "{e}");
}
