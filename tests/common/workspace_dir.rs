//! A temporary directory with an initialized workspace, and the `agentrail` binary run in it
//! with no agentrail variable inherited from the environment running the tests. Shared by the
//! CLI tests of the agent commands and of the context commands
//! (`#[path = "common/workspace_dir.rs"] mod workspace_dir;`).

#![allow(dead_code)] // each test binary uses a different part of this module

use serde_json::Value;
use std::path::Path;
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_agentrail");

pub struct Dir {
    temp: tempfile::TempDir,
    /// `AGENTRAIL_SYNC` for every command, or none (the default, `always`).
    sync: Option<&'static str>,
}

impl Dir {
    /// A workspace of 64 KiB segments, appended to in the default mode, `always`.
    pub fn initialized() -> Dir {
        Dir::initialized_with_sync(None)
    }

    /// The same, with `AGENTRAIL_SYNC` set for every command (`never` makes long tests fast).
    pub fn initialized_with_sync(sync: Option<&'static str>) -> Dir {
        let dir = Dir {
            temp: tempfile::tempdir().unwrap(),
            sync,
        };
        let output = dir.run(&["init", "--segment-bytes", "65536"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        dir
    }

    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    pub fn command(&self, env: &[(&str, &str)]) -> assert_cmd::Command {
        let mut command = assert_cmd::Command::new(BIN);
        command.current_dir(self.path());
        for variable in [
            "AGENTRAIL_DIR",
            "AGENTRAIL_SYNC",
            "AGENTRAIL_SESSION",
            "AGENTRAIL_AGENT",
            "AGENTRAIL",
        ] {
            command.env_remove(variable);
        }
        if let Some(sync) = self.sync {
            command.env("AGENTRAIL_SYNC", sync);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(&[]).args(args).output().unwrap()
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(env).args(args).output().unwrap()
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        self.command(&[])
            .args(args)
            .write_stdin(stdin)
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// Runs a command with `--json` (before the subcommand, so that `run` does not pass it on)
    /// and returns the one JSON object it must print.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let stdout = self.ok(&with_json);
        assert_eq!(
            stdout.lines().count(),
            1,
            "{args:?} --json printed more than one line: {stdout}"
        );
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{args:?}: {error}: {stdout}"))
    }

    /// Every event, as exported.
    pub fn export(&self) -> Vec<Value> {
        self.ok(&["export"])
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Imports JSON lines, which must all be valid.
    pub fn import(&self, lines: &str) {
        let output = self.run_stdin(&["import", "-"], lines);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    /// Exit code, stdout and stderr as one text for a snapshot, this directory's path as `[TMP]`.
    pub fn render(&self, output: &Output) -> String {
        let canonical = self.path().canonicalize().unwrap();
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            output.status.code().unwrap_or(-1),
            text(&output.stdout),
            text(&output.stderr)
        )
        .replace(canonical.to_str().unwrap(), "[TMP]")
        .replace(self.path().to_str().unwrap(), "[TMP]")
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
