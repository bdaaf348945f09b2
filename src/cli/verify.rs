//! `agentrail verify` and `agentrail repair`. Their reports reach stdout through [`emit`], as
//! every command's output does, so that a closed pipe (`verify | head`) is a quiet exit 0.

use super::{counted, emit, open_workspace, CliError, CliResult, EXIT_BAD_INPUT};
use agentrail::journal::verify::Problem;
use agentrail::journal::{self, vfs::StdFs, RepairReport, VerifyReport};
use serde_json::json;

fn verify_json(report: &VerifyReport) -> serde_json::Value {
    json!({
        "ok": report.is_ok(),
        "segments": report.segments,
        "records": report.records,
        "last_good_lsn": report.last_good_lsn,
        "problems": report.problems,
        "strays": report.strays,
        "torn_tail": report.torn_tail.as_ref().map(|torn| json!({"segment": torn.segment, "offset": torn.offset, "bytes": torn.bytes_dropped, "lsn": torn.lsn})),
        "unfinished_append": report.unfinished.as_ref().map(|append| json!({"first_lsn": append.first_lsn, "records": append.records})),
    })
}

/// One line per problem.
fn problem_lines(label: &str, problems: &[Problem]) -> Vec<String> {
    problems
        .iter()
        .map(|problem| {
            format!(
                "{label}: {} at byte offset {}: {}",
                problem.segment.display(),
                problem.offset,
                problem.reason
            )
        })
        .collect()
}

/// The human form of a verify report, one line per finding.
fn verify_text(report: &VerifyReport) -> String {
    let file_bytes: u64 = report
        .segments
        .iter()
        .map(|segment| segment.file_bytes)
        .sum();
    let record_bytes: u64 = report
        .segments
        .iter()
        .map(|segment| segment.record_bytes)
        .sum();
    let mut lines = Vec::new();
    if report.is_ok() {
        let lsns = match report.last_good_lsn {
            0 => String::new(),
            last => format!(" (LSN 1 to {last})"),
        };
        lines.push(format!(
            "ok: {}, {}{lsns}, {} bytes on disk for {} bytes of records",
            counted(report.segments.len() as u64, "segment"),
            counted(report.records, "record"),
            file_bytes,
            record_bytes
        ));
    }
    let label = match report.marker_left {
        true => "damaged earlier",
        false => "corruption",
    };
    lines.extend(problem_lines(label, &report.problems));
    if let Some(torn) = &report.torn_tail {
        lines.push(format!("torn tail: {} bytes at {} byte offset {} (LSN {}'s record is cut short or fails its checksum, as a crash during a write leaves it); the next append truncates it", torn.bytes_dropped, torn.segment.display(), torn.offset, torn.lsn));
    }
    if let Some(append) = &report.unfinished {
        lines.push(format!(
            "unfinished append: {} from LSN {} (a crash cut it short; an append is stored whole or not at all, so the next command that opens the journal removes it)",
            counted(append.records, "record"),
            append.first_lsn
        ));
    }
    let strays = match report.strays.len() {
        0 => String::new(),
        1 => " and the file that is not part of the log".to_owned(),
        _ => " and the files that are not part of the log".to_owned(),
    };
    let last = report.last_good_lsn;
    if report.marker_left {
        lines.push(format!("the log is good through LSN {last}; `agentrail repair` removes the marker and keeps every record"));
    } else if !(report.strays.is_empty() || report.log_is_damaged()) {
        let strays = strays.trim_start_matches(" and");
        lines.push(format!("the log is good through LSN {last}; `agentrail repair` moves{strays} aside and keeps every record"));
    } else if !report.is_ok() {
        lines.push(format!("the log is good through LSN {last}; `agentrail repair` cuts it there and moves damaged segments{strays} aside"));
    }
    lines.join("\n")
}

pub fn run_verify(json: bool) -> CliResult {
    let workspace = open_workspace()?;
    let report = journal::verify(&StdFs, &workspace.journal_dir())?;
    let printed = emit(json, &verify_json(&report), || verify_text(&report));
    // Damage outranks a failed write: its exit code is the answer, even into a closed pipe.
    if report.is_ok() {
        printed
    } else {
        Err(CliError::new(
            EXIT_BAD_INPUT,
            format!(
                "the journal is damaged ({})",
                counted(report.problems.len() as u64, "problem")
            ),
        ))
    }
}

/// The human form of a repair report, one line per finding and action.
fn repair_text(report: &RepairReport) -> String {
    let mut lines = problem_lines("found", &report.problems);
    for (from, to) in &report.moved {
        lines.push(format!("moved {} to {}", from.display(), to.display()));
    }
    if let Some(torn) = &report.torn_tail {
        lines.push(format!(
            "truncated a torn tail: {} bytes at {} byte offset {}",
            torn.bytes_dropped,
            torn.segment.display(),
            torn.offset
        ));
    }
    if let Some(cut) = &report.cut_batch {
        lines.push(format!(
            "removed an unfinished append: {} from LSN {} (a crash cut it short; none of it had been acknowledged)",
            counted(cut.records, "record"),
            cut.first_lsn
        ));
    }
    if let Some(part) = &report.partial_append {
        lines.push(format!(
            "kept LSN {} to {}: the first {} of one append whose later records were dropped with the damage (that append, an import say, is no longer whole)",
            part.first_lsn,
            part.first_lsn + part.records - 1,
            counted(part.records, "record"),
        ));
    }
    if report.marker_removed {
        lines.push("removed the damage marker: appends are taken again".to_owned());
    }
    let untouched = report.torn_tail.is_none() && report.cut_batch.is_none();
    if report.moved.is_empty() && report.problems.is_empty() && untouched {
        let verdict = match report.marker_removed {
            true => "every record kept",
            false => "nothing to repair",
        };
        lines.push(format!(
            "{verdict}: the log is good through LSN {}",
            report.last_lsn
        ));
    } else if report.dropped_through_lsn > report.last_lsn {
        lines.push(format!(
            "the log now ends at LSN {}; dropped LSN {} to {}",
            report.last_lsn,
            report.last_lsn + 1,
            report.dropped_through_lsn
        ));
    } else {
        lines.push(format!("the log now ends at LSN {}", report.last_lsn));
    }
    lines.join("\n")
}

pub fn run_repair(json: bool) -> CliResult {
    let workspace = open_workspace()?;
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    let report = journal::repair(
        &StdFs,
        &workspace.journal_dir(),
        &workspace.damaged_dir(seconds),
    )?;
    let moved: Vec<_> = report
        .moved
        .iter()
        .map(|(from, to)| json!({"from": from, "to": to}))
        .collect();
    let value = json!({"problems": report.problems, "moved": moved, "last_lsn": report.last_lsn, "dropped_through_lsn": report.dropped_through_lsn, "torn_tail": report.torn_tail.as_ref().map(|torn| json!({"segment": torn.segment, "offset": torn.offset, "bytes": torn.bytes_dropped})), "removed_unfinished_append": report.cut_batch.as_ref().map(|cut| json!({"first_lsn": cut.first_lsn, "records": cut.records})), "partial_append": report.partial_append.as_ref().map(|part| json!({"first_lsn": part.first_lsn, "records": part.records})), "removed_damage_marker": report.marker_removed});
    emit(json, &value, || repair_text(&report))
}
