//! `agentrail gc [--dry-run]` and `agentrail purge LSN...`: thin over [`agentrail::context::gc`].

use super::{counted, emit, open_recorder, CliResult};
use agentrail::context::gc::{self, Collectable, GcReport, Policy};
use agentrail::context::id::short_id;
use agentrail::journal::TombstoneReport;
use agentrail::query::{event_at, Found};
use agentrail::recorder::Recorder;
use serde_json::json;

pub fn run_gc(dry_run: bool, json: bool) -> CliResult {
    let recorder = open_recorder()?;
    let policy = Policy::from_config(
        &recorder.workspace().config().context,
        agentrail::event::now_micros(),
    );
    let report = gc::collect_garbage(&recorder, &policy, dry_run)?;
    recorder.close();
    let value = json!({
        "dry_run": dry_run,
        "retention_days": policy.retention_days,
        "collected": report.collected,
        "commits": report.collected.len(),
        "retained": report.retained,
        "payload_bytes": report.payload_bytes(),
        "rewrite": report.rewrite,
    });
    emit(json, &value, || {
        gc_text(&report, dry_run, policy.retention_days)
    })
}

fn gc_text(report: &GcReport, dry_run: bool, retention_days: u64) -> String {
    let retained = match report.retained {
        0 => None,
        count => Some(format!(
            "{} that no ref reaches {} kept by reflog entries younger than {retention_days} days (context.gc_retention_days)",
            counted(count as u64, "commit"),
            if count == 1 { "is" } else { "are" }
        )),
    };
    if report.collected.is_empty() {
        return match retained {
            None => "nothing to collect: every commit left is reachable".into(),
            Some(retained) => format!("nothing to collect yet: {retained}"),
        };
    }
    let verb = if dry_run {
        "would collect"
    } else {
        "collected"
    };
    let mut text = format!(
        "{verb} {}, {} bytes of events\n",
        counted(report.collected.len() as u64, "commit"),
        report.payload_bytes()
    );
    for commit in &report.collected {
        text += &collectable_line(commit);
    }
    if let Some(rewrite) = &report.rewrite {
        text += &rewrite_text(rewrite);
    }
    if let Some(retained) = retained {
        text += &format!("{retained}\n");
    }
    text
}

fn collectable_line(commit: &Collectable) -> String {
    format!(
        "  LSN {}  commit {}  agent {}  {} bytes\n",
        commit.lsn,
        short_id(&commit.id),
        super::visible::line(&commit.agent),
        commit.payload_bytes
    )
}

fn rewrite_text(rewrite: &TombstoneReport) -> String {
    let before: u64 = rewrite
        .rewritten
        .iter()
        .map(|segment| segment.file_bytes_before)
        .sum();
    let after: u64 = rewrite
        .rewritten
        .iter()
        .map(|segment| segment.file_bytes_after)
        .sum();
    let mut text = String::new();
    if rewrite.sealed_active {
        text += "sealed the active segment first\n";
    }
    if rewrite.rewritten.is_empty() && !rewrite.sealed_active {
        return "nothing was rewritten: there was nothing left to remove\n".into();
    }
    text += &format!(
        "rewrote {}: {before} bytes on disk before, {after} after\n",
        counted(rewrite.rewritten.len() as u64, "segment")
    );
    text
}

pub fn run_purge(lsns: &[u64], json: bool) -> CliResult {
    let recorder = open_recorder()?;
    let report = gc::purge(&recorder, lsns)?;
    let types: Vec<String> = report
        .tombstoned
        .iter()
        .map(|tombstoned| event_type_at(&recorder, tombstoned.lsn))
        .collect();
    recorder.close();
    let purged: Vec<_> = report
        .tombstoned
        .iter()
        .zip(&types)
        .map(|(tombstoned, event_type)| json!({"lsn": tombstoned.lsn, "type": event_type, "payload_bytes": tombstoned.payload_bytes, "sha256": tombstoned.payload_sha256}))
        .collect();
    let value = json!({
        "purged": purged,
        "already": report.already,
        "sealed_active": report.sealed_active,
        "rewritten": report.rewritten,
    });
    emit(json, &value, || purge_text(&report, &types))
}

fn event_type_at(recorder: &Recorder, lsn: u64) -> String {
    match event_at(recorder.journal(), lsn) {
        Ok(Found::Event(event)) => event.event_type,
        _ => "record".into(),
    }
}

fn purge_text(report: &TombstoneReport, types: &[String]) -> String {
    let mut text = String::new();
    for (tombstoned, event_type) in report.tombstoned.iter().zip(types) {
        text += &format!(
            "purged LSN {} ({event_type}, {} bytes, sha256 {})\n",
            tombstoned.lsn, tombstoned.payload_bytes, tombstoned.payload_sha256
        );
    }
    for lsn in &report.already {
        text += &format!("LSN {lsn} was purged or collected already\n");
    }
    text + &rewrite_text(report)
}
