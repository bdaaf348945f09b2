//! How the context commands word what they did, where a first walkthrough found them odd: a
//! count of one token, a merge with no conflict, a diff of a revision with itself, a purge of
//! what is purged already, and where HEAD's branch stands among a commit's decorations.

#[path = "common/workspace_dir.rs"]
mod workspace_dir;

use workspace_dir::Dir;

#[test]
fn one_token_is_singular_and_a_clean_merge_names_no_conflicts() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.ok(&["commit", "-m", "a", "--content", "x", "--tokens", "1"]);
    let log = dir.ok(&["log", "--oneline"]);
    assert!(log.contains(" append 1 token a\n"), "{log}");
    let log = dir.ok(&["log", "--all"]);
    assert!(log.contains("append, 1 token, "), "{log}");
    let status = dir.ok(&["status"]);
    assert!(status.contains(" 1 token"), "{status}");
    assert!(!status.contains("1 tokens"), "{status}");
    dir.ok(&["branch", "side"]);
    dir.ok(&["switch", "side"]);
    dir.ok(&["commit", "-m", "s", "--content", "side", "--tokens", "2"]);
    dir.ok(&["switch", "main"]);
    dir.ok(&["commit", "-m", "m", "--content", "main", "--tokens", "2"]);
    let merged = dir.ok(&["merge", "side"]);
    assert!(merged.starts_with("merged side: "), "{merged}");
    assert!(!merged.contains("conflict"), "{merged}");
}

#[test]
fn a_diff_of_a_revision_with_itself_says_there_is_no_difference() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.ok(&["commit", "-m", "a", "--content", "x"]);
    for args in [&["diff", ".."][..], &["diff", "HEAD", "main"]] {
        let out = dir.ok(args);
        assert!(out.starts_with("no difference: "), "{args:?}: {out}");
    }
}

#[test]
fn purging_what_is_purged_already_says_nothing_was_rewritten() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.ok(&["event", "decision", "d"]);
    dir.ok(&["purge", "1"]);
    let again = dir.ok(&["purge", "1"]);
    assert_eq!(
        again,
        "LSN 1 was purged or collected already\nnothing was rewritten: there was nothing left to remove\n"
    );
}

#[test]
fn heads_branch_comes_first_among_decorations_as_in_git() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.ok(&["commit", "-m", "a", "--content", "x"]);
    // "a-branch" sorts before "main", where HEAD is.
    dir.ok(&["branch", "a-branch"]);
    let log = dir.ok(&["log", "--oneline"]);
    assert!(log.contains("(HEAD -> main, a-branch)"), "{log}");
}
