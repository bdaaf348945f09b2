//! The picture `log --graph` draws to the left of the commits, as git draws it: one lane per
//! line of history being shown, `*` in the lane of the commit, `|` for lanes passing by, `\`
//! where a merge's other parents fork off, `/` where lanes join again and `_` where a lane
//! runs across others. Pure layout, no terminal: [`graph_rows`] takes the commits in the order
//! `log --graph` lists them (every commit before its parents, as
//! [`Graph::topo_order`](super::Graph::topo_order) returns them) and gives each its rows;
//! [`GraphRows::draw`] puts them in front of the commit's text.
//!
//! The layout is git's (`graph.c`), rule for rule, so that the same history draws the same
//! picture character for character (`tests/graph_git.rs` compares the two on random
//! histories). A lane waits for one commit; no two lanes wait for the same one. A commit takes
//! the lane waiting for it, or a new lane on the right when none is (a tip). Below it, its
//! parents take its place, the lanes on its right moving over; a parent another lane already
//! waits for joins that lane. Each commit's rows come from a small state machine, as in git:
//! rows moving the lanes on the right of an octopus merge aside (git's pre-commit state), the
//! commit's row, the row where a merge's parents fork off (post-merge), then rows walking every
//! line one character a row toward its lane (collapsing), the first line with far to go running
//! along `_` until it is close, until every line is in its lane (padding). How a row looks
//! depends on the row before it (a lane that was turning keeps its `\` or `/`), so the layout
//! needs to know whether entries are single lines or separated by a blank line ([`Entries`]).

use super::graph::Commit;

/// Characters per lane: the lane's mark and a space.
const LANE_WIDTH_CHARS: usize = 2;

/// How `log` lays out the entries the rows go in front of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entries {
    /// One line per commit (`--oneline`): one commit's rows follow the previous commit's.
    OneLine,
    /// Entries of several lines with a blank line between them, on which git draws a row of
    /// the next commit's lanes ([`GraphRows::separator`]).
    BlankLineBetween,
}

/// One commit's part of the picture. Each row is as git writes it, a space after each lane's
/// mark, so text after it starts at `width` or right after the row, whichever is further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRows {
    /// With [`Entries::BlankLineBetween`], the row on the blank line before this commit's entry
    /// (none for the first commit): its lanes, or the first row moving lanes aside.
    pub separator: Option<String>,
    /// Rows before the commit's: the lanes on the right of an octopus merge moving aside.
    pub expansion: Vec<String>,
    /// The commit's own row, `*` in its lane.
    pub commit: String,
    /// Rows after the commit's where lanes fork off (`\`) or join (`/`, `_`).
    pub connectors: Vec<String>,
    /// The row of every lane passing straight down, once the connectors are drawn.
    pub padding: String,
    /// The width rows are padded to when text follows them, so the commit's lines align.
    pub width: usize,
}

impl GraphRows {
    /// The commit's text with a row in front of each line: the commit's row on the first, then
    /// the connectors, then padding. Connectors left over when the text is shorter (a one-line
    /// entry) come after it on lines of their own, as git prints them. Rows without text after
    /// them lose their trailing spaces (git keeps them).
    pub fn draw(&self, text: &str) -> String {
        let mut drawn: String = self.expansion.iter().map(|row| bare(row)).collect();
        let mut connectors = self.connectors.iter();
        let mut lines = text.lines();
        drawn += &self.line(&self.commit, lines.next().unwrap_or_default());
        for line in lines {
            let row = connectors.next().unwrap_or(&self.padding);
            drawn += &self.line(row, line);
        }
        drawn.extend(connectors.map(|row| bare(row)));
        drawn
    }

    fn line(&self, row: &str, text: &str) -> String {
        if text.is_empty() {
            return bare(row);
        }
        format!("{row:width$}{text}\n", width = self.width)
    }
}

/// A row on a line of its own, without trailing spaces.
fn bare(row: &str) -> String {
    format!("{}\n", row.trim_end())
}

/// The rows of each commit, in the order given. `commits` must list every commit before its
/// parents; a parent that is not in the list keeps its lane to the bottom of the picture.
pub fn graph_rows(commits: &[&Commit], entries: Entries) -> Vec<GraphRows> {
    let mut layout = Layout::default();
    commits
        .iter()
        .enumerate()
        .map(|(number, commit)| {
            layout.update(commit);
            let separated = entries == Entries::BlankLineBetween && number > 0;
            let separator = separated.then(|| layout.separator_row());
            layout.rows(separator)
        })
        .collect()
}

/// What the next row of the picture is, as git's `graph.c` names its states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Every line is in its lane: rows are the lanes passing straight down.
    #[default]
    Padding,
    /// Rows before an octopus merge's, moving the lanes on its right aside.
    PreCommit,
    Commit,
    /// The row below a merge, where its parents fork off.
    PostMerge,
    /// Rows walking lines toward their lanes.
    Collapsing,
}

/// The lanes and the rows drawn so far, carried from one commit to the next.
#[derive(Debug, Default)]
struct Layout<'a> {
    /// The commit being drawn.
    commit: &'a str,
    parents: &'a [String],
    /// The lanes above the commit's row, each the commit it waits for.
    lanes: Vec<&'a str>,
    /// The lanes below the commit's rows.
    next_lanes: Vec<&'a str>,
    /// For each character of the last row drawn, the lane in `next_lanes` the line there
    /// continues in; only the first `targets_len` are in use. Like git, the row before's
    /// targets are kept (`previous_targets`), and both are reused from row to row without
    /// being cleared past the characters in use.
    targets: Vec<Option<usize>>,
    previous_targets: Vec<Option<usize>>,
    targets_len: usize,
    state: State,
    /// The state of the last row that changed the state (padding rows do not).
    previous_state: State,
    /// The commit's lane: `lanes.len()` for a tip no lane waits for.
    index: usize,
    previous_index: usize,
    /// 0 when a merge's first parent is in a lane on its left (the merge leans left and its
    /// parents take one column less), else 1.
    merge_skew: usize,
    /// How many lanes the commit adds on its right: parents less one for a merge, one less
    /// again when it leans left, -1 when its last parent joins the lane just left of it.
    edges_added: isize,
    previous_edges_added: isize,
    /// Characters the rows take (the text's column).
    width: usize,
    /// The next row moving lanes aside for an octopus merge.
    expansion_row: usize,
}

impl<'a> Layout<'a> {
    /// Takes the next commit: the lanes below the last one become the lanes above this one.
    fn update(&mut self, commit: &'a Commit) {
        self.commit = &commit.id;
        self.parents = &commit.parents;
        self.previous_index = self.index;
        self.update_lanes();
        self.expansion_row = 0;
        // Not `set_state`: the last row drawn is still the previous commit's.
        self.state = if self.needs_expansion_row() {
            State::PreCommit
        } else {
            State::Commit
        };
    }

    /// The commit's rows, from the row after `separator` to the padding row below it.
    fn rows(&mut self, separator: Option<String>) -> GraphRows {
        let mut expansion = Vec::new();
        while self.state == State::PreCommit {
            expansion.push(self.expansion_row());
        }
        let commit = self.commit_row();
        // Every row walks some line closer to its lane: the bound only guards against a bug.
        let rows_max = self.targets_len + 2;
        let connectors =
            std::iter::from_fn(|| (self.state != State::Padding).then(|| self.next_row()))
                .take(rows_max)
                .collect();
        GraphRows {
            separator,
            expansion,
            commit,
            connectors,
            padding: self.padding_row(),
            width: self.width,
        }
    }

    fn next_row(&mut self) -> String {
        match self.state {
            State::Padding => self.padding_row(),
            State::PreCommit => self.expansion_row(),
            State::Commit => self.commit_row(),
            State::PostMerge => self.post_merge_row(),
            State::Collapsing => self.collapsing_row(),
        }
    }

    fn set_state(&mut self, state: State) {
        self.previous_state = self.state;
        self.state = state;
    }

    /// The lanes below the commit (`next_lanes`) and where each line of its rows goes
    /// (`targets`): every lane and parent, left to right, joins the lane waiting for the same
    /// commit or opens one on the right.
    fn update_lanes(&mut self) {
        self.lanes = std::mem::take(&mut self.next_lanes);
        self.targets_len = LANE_WIDTH_CHARS * (self.lanes.len() + self.parents.len());
        for targets in [&mut self.targets, &mut self.previous_targets] {
            if targets.len() < self.targets_len {
                targets.resize(self.targets_len, None);
            }
        }
        self.targets[..self.targets_len].fill(None);
        self.width = 0;
        self.previous_edges_added = self.edges_added;
        self.edges_added = 0;
        self.index = self
            .lanes
            .iter()
            .position(|lane| *lane == self.commit)
            .unwrap_or(self.lanes.len());
        for lane in 0..self.lanes.len() {
            if lane == self.index {
                self.insert_parents();
            } else {
                self.insert(self.lanes[lane], false);
            }
        }
        if self.index == self.lanes.len() {
            self.insert_parents();
        }
        while self.targets_len > 1 && self.targets[self.targets_len - 1].is_none() {
            self.targets_len -= 1;
        }
    }

    fn insert_parents(&mut self) {
        self.merge_skew = 1;
        let parents = self.parents;
        for (number, parent) in parents.iter().enumerate() {
            self.insert(parent, number == 0 && parents.len() > 1);
        }
        if parents.is_empty() {
            self.width += LANE_WIDTH_CHARS;
        }
    }

    /// Puts the line waiting for `awaited` at the next character, in its lane.
    fn insert(&mut self, awaited: &'a str, first_parent_of_merge: bool) {
        let lane = match self.next_lanes.iter().position(|lane| *lane == awaited) {
            Some(lane) => lane,
            None => {
                self.next_lanes.push(awaited);
                self.next_lanes.len() - 1
            }
        };
        let just_left = self.width.checked_sub(LANE_WIDTH_CHARS);
        let column = if first_parent_of_merge {
            self.place_first_parent(lane)
        } else if self.edges_added > 0
            && just_left.is_some_and(|column| self.targets[column] == Some(lane))
        {
            // The line joins the lane a merge just opened on its left: `|\|` rather than a
            // `\` and a `/` meeting a row later.
            self.edges_added = -1;
            just_left.unwrap_or_default()
        } else {
            self.width += LANE_WIDTH_CHARS;
            self.width - LANE_WIDTH_CHARS
        };
        set(&mut self.targets, column, lane);
    }

    /// Where a merge's first parent's line starts, and which way the merge leans: left when
    /// that parent's lane is on its left (the line starts as a `/` right away).
    fn place_first_parent(&mut self, lane: usize) -> usize {
        let distance = signed(self.index) - signed(lane);
        let shift = if distance > 1 { 2 * distance - 3 } else { 1 };
        self.merge_skew = usize::from(distance <= 0);
        let skew = signed(self.merge_skew);
        self.edges_added = signed(self.parents.len()) + skew - 2;
        let column = signed(self.width) + (skew - 1) * shift;
        self.width += LANE_WIDTH_CHARS * self.merge_skew;
        usize::try_from(column).unwrap_or_default()
    }

    /// Parents of an octopus merge drawn as `-` after its `*`.
    fn dashed_parents(&self) -> usize {
        (self.parents.len() + self.merge_skew).saturating_sub(3)
    }

    fn needs_expansion_row(&self) -> bool {
        self.parents.len() >= 3
            && self.index + 1 < self.lanes.len()
            && self.expansion_row < 2 * self.dashed_parents()
    }

    /// A row moving the lanes right of an octopus merge one more character aside.
    fn expansion_row(&mut self) -> String {
        let mut row = String::new();
        let mut seen = false;
        for (lane, awaited) in self.lanes.iter().enumerate() {
            if *awaited == self.commit {
                seen = true;
                row.push('|');
                row.extend(std::iter::repeat_n(' ', self.expansion_row));
            } else if seen && self.expansion_row == 0 {
                // Lanes a merge just above forked aside keep their `\`.
                let forked = self.previous_state == State::PostMerge && self.previous_index < lane;
                row.push(if forked { '\\' } else { '|' });
            } else {
                row.push(if seen { '\\' } else { '|' });
            }
            row.push(' ');
        }
        self.expansion_row += 1;
        if !self.needs_expansion_row() {
            self.set_state(State::Commit);
        }
        row
    }

    /// The lane waiting for each commit of the rows' loop: every lane, then the commit on the
    /// right when no lane waits for it.
    fn row_lanes(&self) -> impl Iterator<Item = (usize, &'a str)> + '_ {
        let tip = (self.index == self.lanes.len()).then_some(self.commit);
        self.lanes.iter().copied().chain(tip).enumerate()
    }

    /// The commit's row: `*` (with `-.` for an octopus) in its lane.
    fn commit_row(&mut self) -> String {
        let mut row = String::new();
        let mut seen = false;
        for (lane, awaited) in self.row_lanes() {
            if awaited == self.commit {
                seen = true;
                row.push('*');
                row += &self.octopus_dashes();
            } else if seen && self.edges_added > 1 {
                row.push('\\');
            } else if seen && self.edges_added == 1 {
                // A lane a merge just above forked aside keeps its `\`.
                let forked = self.previous_state == State::PostMerge
                    && self.previous_edges_added > 0
                    && self.previous_index < lane;
                row.push(if forked { '\\' } else { '|' });
            } else if self.still_turning_left(lane) {
                row.push('/');
            } else {
                row.push('|');
            }
            row.push(' ');
        }
        self.set_state(if self.parents.len() > 1 {
            State::PostMerge
        } else if self.targets_correct() {
            State::Padding
        } else {
            State::Collapsing
        });
        row
    }

    /// True when the line now in `lane` arrived as a `/` on the row just above and moves on
    /// left below: git keeps it a `/` rather than a `|`.
    fn still_turning_left(&self, lane: usize) -> bool {
        let column = LANE_WIDTH_CHARS * lane;
        self.previous_state == State::Collapsing
            && self.previous_targets.get(column + 1) == Some(&Some(lane))
            && self.targets[column].is_none_or(|target| target < lane)
    }

    fn octopus_dashes(&self) -> String {
        if self.parents.len() <= 2 {
            return String::new();
        }
        let dashed = self.dashed_parents();
        (0..dashed)
            .flat_map(|number| ['-', if number + 1 == dashed { '.' } else { '-' }])
            .collect()
    }

    /// The row under a merge: `/`, `|` and `\` for its parents, the lanes on its right moved
    /// aside (`\`), and `_` from a first parent's lane on its left to the merge.
    fn post_merge_row(&mut self) -> String {
        let first_parent = self.parents.first().map(String::as_str);
        let mut row = String::new();
        let mut past_first_parent = false;
        for (lane, awaited) in self.row_lanes() {
            if awaited == self.commit {
                row += &self.fork_marks();
            } else if lane > self.index {
                row.push(if self.edges_added > 0 { '\\' } else { '|' });
                row.push(' ');
            } else {
                row.push('|');
                if self.merge_skew != 0 || lane + 1 != self.index {
                    row.push(if past_first_parent { '_' } else { ' ' });
                }
            }
            past_first_parent |= Some(awaited) == first_parent;
        }
        self.set_state(if self.targets_correct() {
            State::Padding
        } else {
            State::Collapsing
        });
        row
    }

    /// A merge's parents forking off its `*`: `/` (leaning left), `|`, then `\` for the rest.
    fn fork_marks(&self) -> String {
        const MARKS: [char; 3] = ['/', '|', '\\'];
        let mut marks = String::new();
        let mut mark = self.merge_skew;
        for number in 0..self.parents.len() {
            marks.push(MARKS[mark]);
            if mark < MARKS.len() - 1 {
                mark += 1;
            } else if self.edges_added > 0 || number + 1 < self.parents.len() {
                marks.push(' ');
            }
        }
        if self.edges_added == 0 {
            marks.push(' ');
        }
        marks
    }

    /// A row walking every line one character toward its lane, joining a line bound for the
    /// same lane, hopping over one bound elsewhere. The first line (left to right) that moves
    /// while others are in its way runs along `_` to two characters from its lane at once.
    fn collapsing_row(&mut self) -> String {
        std::mem::swap(&mut self.targets, &mut self.previous_targets);
        self.targets[..self.targets_len].fill(None);
        // The line running along `_`: the character it leaves from and its lane.
        let mut runner: Option<(usize, usize)> = None;
        for column in 0..self.targets_len {
            let Some(lane) = self.previous_targets[column] else {
                continue;
            };
            let goal = LANE_WIDTH_CHARS * lane;
            if column <= goal {
                // Already in its lane (git never moves a line right while collapsing).
                self.targets[column] = Some(lane);
                continue;
            }
            let left = self.targets[column - 1];
            let start = match left {
                None => column,
                Some(other) if other == lane => continue,
                Some(_) => column - 1,
            };
            // Crossing a line means leaving the character left of it for this one.
            let to = if left.is_none() {
                column - 1
            } else {
                column - 2
            };
            self.targets[to] = Some(lane);
            if runner.is_none() {
                runner = Some((start, lane));
                for run in (goal + 3..column.saturating_sub(2)).step_by(LANE_WIDTH_CHARS) {
                    self.targets[run] = Some(lane);
                }
            }
        }
        let in_use = self.targets_len;
        self.previous_targets[..in_use].copy_from_slice(&self.targets[..in_use]);
        if in_use > 0 && self.targets[in_use - 1].is_none() {
            self.targets_len -= 1;
        }
        let row = self.collapsing_marks(runner);
        if self.targets_correct() {
            self.set_state(State::Padding);
        }
        row
    }

    /// The marks of a collapsing row; the `_` run's characters after its first, and lines
    /// left of where the runner started once the run is drawn, go no further.
    fn collapsing_marks(&mut self, runner: Option<(usize, usize)>) -> String {
        let mut row = String::new();
        let mut ran = false;
        for column in 0..self.targets_len {
            let Some(lane) = self.targets[column] else {
                row.push(' ');
                continue;
            };
            let goal = LANE_WIDTH_CHARS * lane;
            if goal == column {
                row.push('|');
            } else if runner
                .is_some_and(|(start, runner_lane)| runner_lane == lane && column + 1 != start)
            {
                if column != goal + 3 {
                    self.targets[column] = None;
                }
                ran = true;
                row.push('_');
            } else {
                if ran && runner.is_some_and(|(start, _)| column < start) {
                    self.targets[column] = None;
                }
                row.push('/');
            }
        }
        row
    }

    /// True when every line is in its lane or a `/` next to it (which ends in it).
    fn targets_correct(&self) -> bool {
        self.targets[..self.targets_len]
            .iter()
            .enumerate()
            .all(|(column, target)| target.is_none_or(|lane| lane == column / LANE_WIDTH_CHARS))
    }

    fn padding_row(&self) -> String {
        "| ".repeat(self.next_lanes.len())
    }

    /// The row git draws on the blank line between two entries, once it has taken the next
    /// commit: its lanes (an octopus merge's wider), or its first row moving lanes aside.
    fn separator_row(&mut self) -> String {
        if self.state != State::Commit {
            return self.next_row();
        }
        let mut row = String::new();
        for lane in &self.lanes {
            row.push('|');
            let octopus = *lane == self.commit && self.parents.len() > 2;
            let spaces = if octopus {
                2 * (self.parents.len() - 2)
            } else {
                1
            };
            row.extend(std::iter::repeat_n(' ', spaces));
        }
        self.previous_state = State::Padding;
        row
    }
}

/// Puts `value` at `index`, growing `cells` with empty cells as needed.
fn set<T: Copy>(cells: &mut Vec<Option<T>>, index: usize, value: T) {
    if cells.len() <= index {
        cells.resize(index + 1, None);
    }
    cells[index] = Some(value);
}

/// A count as a signed number, for git's arithmetic on columns.
fn signed(count: usize) -> isize {
    isize::try_from(count).unwrap_or(isize::MAX)
}

#[cfg(test)]
mod tests {
    //! Small histories drawn one line per commit (`log --graph --oneline`), each as git draws
    //! it (`git log --graph --oneline --date-order` on the same history, trailing spaces cut).

    use super::*;
    use crate::context::CommitKind;
    use std::collections::BTreeMap;

    /// A history given newest first, each commit as `(id, parents)`, drawn with each id as
    /// its line of text.
    fn picture(history: &[(&str, &[&str])]) -> String {
        let commits: Vec<Commit> = history
            .iter()
            .map(|(id, parents)| commit(id, parents))
            .collect();
        let listed: Vec<&Commit> = commits.iter().collect();
        graph_rows(&listed, Entries::OneLine)
            .iter()
            .zip(history)
            .map(|(rows, (id, _))| rows.draw(id))
            .collect()
    }

    fn commit(id: &str, parents: &[&str]) -> Commit {
        Commit {
            id: id.to_owned(),
            parents: parents.iter().map(|parent| (*parent).to_owned()).collect(),
            kind: CommitKind::Append,
            message: String::new(),
            target: None,
            tokens: 0,
            tokens_counted: false,
            agent: "main".to_owned(),
            session: None,
            ts_micros: 0,
            lsn: 0,
            links: BTreeMap::new(),
            content_key: 0,
        }
    }

    #[test]
    fn a_line_of_history_is_one_lane() {
        let drawn = picture(&[("c", &["b"]), ("b", &["a"]), ("a", &[])]);
        assert_eq!(drawn, "* c\n* b\n* a\n");
        // Nothing runs below the root: its text has no lane beside it.
        let commits = [commit("b", &["a"]), commit("a", &[])];
        let rows = graph_rows(&commits.iter().collect::<Vec<_>>(), Entries::OneLine);
        let drawn: Vec<String> = rows.iter().map(|rows| rows.draw("id\nkind\n\n")).collect();
        assert_eq!(drawn, ["* id\n| kind\n|\n", "* id\n  kind\n\n"]);
    }

    #[test]
    fn a_merge_forks_a_lane_that_joins_again_at_the_base() {
        let drawn = picture(&[
            ("merge", &["main", "topic"]),
            ("topic", &["root"]),
            ("main", &["root"]),
            ("root", &[]),
        ]);
        assert_eq!(drawn, "*   merge\n|\\\n| * topic\n* | main\n|/\n* root\n");
    }

    #[test]
    fn two_tips_with_all_each_get_a_lane() {
        let drawn = picture(&[
            ("topic-2", &["topic-1"]),
            ("main-1", &["base"]),
            ("topic-1", &["base"]),
            ("base", &[]),
        ]);
        assert_eq!(drawn, "* topic-2\n| * main-1\n* | topic-1\n|/\n* base\n");
    }

    #[test]
    fn a_branch_merged_twice_joins_its_own_lane_at_the_second_merge() {
        let drawn = picture(&[
            ("merge-2", &["main-2", "topic-2"]),
            ("main-2", &["merge-1"]),
            ("topic-2", &["topic-1"]),
            ("merge-1", &["main-1", "topic-1"]),
            ("topic-1", &["root"]),
            ("main-1", &["root"]),
            ("root", &[]),
        ]);
        let expected = "\
*   merge-2
|\\
* | main-2
| * topic-2
* | merge-1
|\\|
| * topic-1
* | main-1
|/
* root
";
        assert_eq!(drawn, expected);
    }

    #[test]
    fn a_merge_of_an_ancestor_of_its_first_parent_joins_below_it() {
        let drawn = picture(&[
            ("merge", &["main", "old"]),
            ("main", &["old"]),
            ("old", &[]),
        ]);
        assert_eq!(drawn, "*   merge\n|\\\n* | main\n|/\n* old\n");
    }

    #[test]
    fn a_limit_inside_a_branch_leaves_its_lanes_open() {
        let drawn = picture(&[("merge", &["main", "topic"]), ("topic", &["root"])]);
        assert_eq!(drawn, "*   merge\n|\\\n| * topic\n");
    }

    #[test]
    fn a_root_beside_other_lanes_lets_them_move_left() {
        let drawn = picture(&[("root-b", &[]), ("tip", &["root-a"]), ("root-a", &[])]);
        assert_eq!(drawn, "* root-b\n* tip\n* root-a\n");
        let drawn = picture(&[("tip", &["root-a"]), ("root-b", &[]), ("root-a", &[])]);
        assert_eq!(drawn, "* tip\n| * root-b\n* root-a\n");
        let drawn = picture(&[("a", &["x"]), ("b", &["y"]), ("x", &[]), ("y", &[])]);
        assert_eq!(drawn, "* a\n| * b\n* | x\n /\n* y\n");
    }

    #[test]
    fn a_lane_joining_from_far_right_crosses_the_lane_between() {
        let drawn = picture(&[
            ("a", &["base"]),
            ("b", &["other"]),
            ("c", &["base"]),
            ("other", &[]),
            ("base", &[]),
        ]);
        let expected = "\
* a
| * b
| | * c
| |/
|/|
| * other
* base
";
        assert_eq!(drawn, expected);
    }

    #[test]
    fn an_octopus_merge_moves_the_lanes_on_its_right_aside() {
        let drawn = picture(&[
            ("merge", &["octopus", "side"]),
            ("octopus", &["a", "b", "c"]),
        ]);
        let expected = "\
*   merge
|\\
| \\
|  \\
*-. \\   octopus
|\\ \\ \\
";
        assert_eq!(drawn, expected);
        let drawn = picture(&[("octopus", &["a", "b", "c"]), ("after", &[])]);
        assert_eq!(drawn, "*-.   octopus\n|\\ \\\n| | | * after\n");
    }

    #[test]
    fn a_merge_of_a_line_waited_for_on_its_left_forks_right_then_turns_back() {
        let drawn = picture(&[
            ("topic-3", &["topic-2"]),
            ("merge-2", &["main-2", "topic-2"]),
            ("main-2", &["merge-1"]),
            ("topic-2", &["topic-1"]),
            ("merge-1", &["main-1", "topic-1"]),
            ("topic-1", &["base"]),
            ("main-1", &["base"]),
            ("base", &[]),
        ]);
        let expected = "\
* topic-3
| *   merge-2
| |\\
| |/
|/|
| * main-2
* | topic-2
| *   merge-1
| |\\
| |/
|/|
* | topic-1
| * main-1
|/
* base
";
        assert_eq!(drawn, expected);
    }

    #[test]
    fn a_line_crossing_lanes_runs_along_underscores() {
        let drawn = picture(&[
            ("a", &["base"]),
            ("b", &["x"]),
            ("c", &["y"]),
            ("d", &["base"]),
            ("y", &[]),
            ("x", &[]),
            ("base", &[]),
        ]);
        let expected = "\
* a
| * b
| | * c
| | | * d
| |_|/
|/| |
| | * y
| * x
* base
";
        assert_eq!(drawn, expected);
    }

    #[test]
    fn a_line_still_turning_left_keeps_its_slash_on_the_next_commits_row() {
        let drawn = picture(&[
            ("x", &["p"]),
            ("y", &["q"]),
            ("z", &["q"]),
            ("p", &[]),
            ("q", &[]),
        ]);
        assert_eq!(drawn, "* x\n| * y\n| | * z\n| |/\n* / p\n /\n* q\n");
    }

    #[test]
    fn a_blank_line_between_entries_ends_a_forks_turn() {
        let history: &[(&str, &[&str])] = &[
            ("M", &["N", "T"]),
            ("N", &["B", "U"]),
            ("T", &["B"]),
            ("U", &["B"]),
            ("B", &[]),
        ];
        let oneline = picture(history);
        assert!(
            oneline.starts_with("*   M\n|\\\n* \\   N\n|\\ \\\n"),
            "{oneline}"
        );
        let commits: Vec<Commit> = history
            .iter()
            .map(|(id, parents)| commit(id, parents))
            .collect();
        let listed: Vec<&Commit> = commits.iter().collect();
        let drawn: String = graph_rows(&listed, Entries::BlankLineBetween)
            .iter()
            .zip(history)
            .map(|(rows, (id, _))| {
                let separator = rows.separator.as_deref().map(bare).unwrap_or_default();
                separator + &rows.draw(&format!("{id}\nline\n"))
            })
            .collect();
        // On the blank line git draws the lanes, and the lane the merge above forked keeps
        // no `\\` on `N`'s row.
        let expected = "\
*   M
|\\  line
| |
* |   N
|\\ \\  line
| | |
| | * T
| |/  line
|/|
| |
| * U
|/  line
|
* B
  line
";
        assert_eq!(drawn, expected);
    }

    #[test]
    fn text_lines_take_the_connectors_then_padding_and_align() {
        let commits = [commit("merge", &["main", "topic"]), commit("topic", &[])];
        let listed: Vec<&Commit> = commits.iter().collect();
        let rows = graph_rows(&listed, Entries::OneLine);
        assert_eq!(rows[0].width, 4);
        assert_eq!(
            rows[0].draw("commit merge\nmerge: main topic\nappend\n\n"),
            "*   commit merge\n|\\  merge: main topic\n| | append\n| |\n"
        );
    }
}
