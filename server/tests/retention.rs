//! `faultline retention run`: the CLI runs retention once against the store
//! (the store suite checks what it does on both backends).

use std::process::Command;

#[test]
fn retention_run_reports_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["retention", "run", "--data-dir"])
        .arg(dir.path())
        .env("FAULTLINE_RETENTION_DAYS", "7")
        .output()
        .expect("run faultline");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .contains("rolled up 0 report(s) older than 7 day(s); deleted 0 older than 90 day(s)"),
        "{stdout}"
    );
}
