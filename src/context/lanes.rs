//! The picture `log --graph` draws to the left of the commits, as git draws it: one lane per
//! line of history being shown, `*` in the lane of the commit, `|` for lanes passing by, `\`
//! where a merge's other parents fork off and `/` where lanes join again. Pure layout, no
//! terminal: [`graph_rows`] takes the commits in the order `log` lists them (newest first, as
//! [`Graph::newest_first`](super::Graph::newest_first) returns them, so every commit comes
//! before its parents) and gives each its rows; [`GraphRows::draw`] puts them in front of the
//! commit's text.
//!
//! The layout follows git's `graph.c` in spirit, in fewer rules. A lane waits for one commit;
//! no two lanes wait for the same one. A commit takes the lane waiting for it, or a new lane on
//! the right when none is (a tip). After its row, its parents take its place, the first where
//! the commit was and the others just to its right, the lanes on its right moving over; a
//! parent another lane already waits for joins that lane instead. Each line below the commit's
//! row is an edge walking from where it starts to the lane it continues in, one character a
//! row (`/` to the left, `\` to the right), hopping over a lane it crosses; connector rows are
//! drawn until every edge is at most one character from its lane. An octopus merge (three or
//! more parents) draws `*-.` like git, after rows that move the lanes on its right aside.

use super::graph::Commit;

/// Characters per lane: the lane's mark and a space.
const LANE_WIDTH_CHARS: usize = 2;

/// One commit's part of the picture, each row without trailing spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRows {
    /// Rows before the commit's: the lanes on the right of an octopus merge moving aside.
    pub expansion: Vec<String>,
    /// The commit's own row, `*` in its lane.
    pub commit: String,
    /// Rows after the commit's where lanes fork off (`\`) or join (`/`).
    pub connectors: Vec<String>,
    /// The row of every lane passing straight down, once the connectors are drawn.
    pub padding: String,
    /// The width rows are padded to when text follows them, so the commit's lines align.
    pub width: usize,
}

impl GraphRows {
    /// The commit's text with a row in front of each line: the commit's row on the first, then
    /// the connectors, then padding. Connectors left over when the text is shorter (a one-line
    /// entry) come after it on lines of their own, as git prints them.
    pub fn draw(&self, text: &str) -> String {
        let mut drawn: String = self
            .expansion
            .iter()
            .map(|row| format!("{row}\n"))
            .collect();
        let mut connectors = self.connectors.iter();
        let mut lines = text.lines();
        drawn += &self.line(&self.commit, lines.next().unwrap_or_default());
        for line in lines {
            let row = connectors.next().unwrap_or(&self.padding);
            drawn += &self.line(row, line);
        }
        drawn.extend(connectors.map(|row| format!("{row}\n")));
        drawn
    }

    fn line(&self, row: &str, text: &str) -> String {
        if text.is_empty() {
            return format!("{row}\n");
        }
        format!("{row:width$}{text}\n", width = self.width)
    }
}

/// The rows of each commit, in the order given. `commits` must list every commit before its
/// parents; a parent that is not in the list keeps its lane to the bottom of the picture.
pub fn graph_rows(commits: &[&Commit]) -> Vec<GraphRows> {
    let mut lanes: Vec<&str> = Vec::new();
    commits
        .iter()
        .map(|commit| {
            let (rows, next) = commit_rows(&lanes, commit);
            lanes = next;
            rows
        })
        .collect()
}

/// A line from a commit's row down to the lane it continues in, in characters from the left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edge {
    column: usize,
    goal: usize,
}

impl Edge {
    /// Close enough that the row below continues it: a `/` or `\` next to the lane ends in it.
    fn landed(&self) -> bool {
        self.column.abs_diff(self.goal) <= 1
    }
}

/// Where a commit sits among `lanes` and what it does to them.
struct Placement<'lanes, 'a> {
    lanes: &'lanes [&'a str],
    /// The commit's lane; `lanes.len()` for a tip no lane waits for.
    index: usize,
    parents: Vec<&'a str>,
    /// How far an octopus merge moves the lanes on its right before its row, in characters.
    shift: usize,
}

/// One commit's rows and the lanes after it.
fn commit_rows<'a>(lanes: &[&'a str], commit: &'a Commit) -> (GraphRows, Vec<&'a str>) {
    let index = lanes
        .iter()
        .position(|lane| *lane == commit.id)
        .unwrap_or(lanes.len());
    let parents: Vec<&str> = commit.parents.iter().map(String::as_str).collect();
    let octopus_chars = LANE_WIDTH_CHARS * parents.len().saturating_sub(2);
    let has_right_lanes = index + 1 < lanes.len();
    let placement = Placement {
        lanes,
        index,
        parents,
        shift: if has_right_lanes { octopus_chars } else { 0 },
    };
    let (next, edges) = placement.next_lanes();
    let expansion = (0..placement.shift)
        .map(|moved| placement.expansion_row(moved))
        .collect();
    let mut rows = GraphRows {
        expansion,
        commit: placement.commit_row(octopus_chars),
        connectors: connector_rows(edges),
        padding: "| ".repeat(next.len()).trim_end().to_owned(),
        width: 0,
    };
    rows.width = width(&rows);
    (rows, next)
}

impl<'a> Placement<'_, 'a> {
    /// The lanes after the commit, and an edge from each lane or parent of the commit's row to
    /// its lane there.
    fn next_lanes(&self) -> (Vec<&'a str>, Vec<Edge>) {
        let mut next: Vec<&'a str> = Vec::new();
        let mut edges = Vec::new();
        let mut join = |awaited: &'a str, column: usize| {
            let lane = next
                .iter()
                .position(|lane| *lane == awaited)
                .unwrap_or_else(|| {
                    next.push(awaited);
                    next.len() - 1
                });
            let goal = lane * LANE_WIDTH_CHARS;
            edges.push(Edge { column, goal });
        };
        let start = self.index * LANE_WIDTH_CHARS;
        for (lane, awaited) in self.lanes.iter().enumerate().take(self.index) {
            join(awaited, lane * LANE_WIDTH_CHARS);
        }
        for (number, parent) in self.parents.iter().enumerate() {
            // The first two leave from the `*`, the others from the `-.` after it.
            join(parent, start + LANE_WIDTH_CHARS * number.saturating_sub(1));
        }
        for (lane, awaited) in self.lanes.iter().enumerate().skip(self.index + 1) {
            join(awaited, lane * LANE_WIDTH_CHARS + self.shift);
        }
        (next, edges)
    }

    /// The commit's row: `*` (with `-.` for an octopus) in its lane, `|` in the others, and
    /// `\` for lanes an octopus is moving aside.
    fn commit_row(&self, octopus_chars: usize) -> String {
        let mut cells = self.lane_cells(self.shift, '\\');
        let start = self.index * LANE_WIDTH_CHARS;
        set(&mut cells, start, '*');
        for offset in 1..octopus_chars {
            set(&mut cells, start + offset, '-');
        }
        if octopus_chars > 0 {
            set(&mut cells, start + octopus_chars, '.');
        }
        render(&cells)
    }

    /// A row before an octopus merge's, its right lanes `moved` characters on their way aside.
    fn expansion_row(&self, moved: usize) -> String {
        render(&self.lane_cells(moved, '\\'))
    }

    /// Every lane as `|`, but those right of an octopus `moved` over and drawn as `mark`.
    fn lane_cells(&self, moved: usize, mark: char) -> Vec<Option<char>> {
        let mut cells = Vec::new();
        for lane in 0..self.lanes.len().max(self.index + 1) {
            let (column, lane_mark) = if lane > self.index && self.shift > 0 {
                (lane * LANE_WIDTH_CHARS + moved, mark)
            } else {
                (lane * LANE_WIDTH_CHARS, '|')
            };
            set(&mut cells, column, lane_mark);
        }
        cells
    }
}

/// Rows walking each edge toward its lane until all have landed.
fn connector_rows(mut edges: Vec<Edge>) -> Vec<String> {
    let mut rows = Vec::new();
    while !edges.iter().all(Edge::landed) {
        let (row, moved) = connector_row(&edges);
        rows.push(row);
        edges = moved;
    }
    rows
}

/// One step of every edge, left to right: one character toward its lane, or two to hop over
/// a lane in the way. An edge reaching a cell of an edge bound for the same lane joins it.
/// Every edge not in its lane gets closer, so the rows end.
fn connector_row(edges: &[Edge]) -> (String, Vec<Edge>) {
    let mut order = edges.to_vec();
    order.sort_by_key(|edge| edge.column);
    let mut cells: Vec<Option<usize>> = Vec::new();
    let mut marks: Vec<Option<char>> = Vec::new();
    let mut moved = Vec::new();
    for edge in order {
        let column = step(&edge, &cells);
        if cells.get(column).copied().flatten() == Some(edge.goal) {
            continue;
        }
        let mark = match column.cmp(&edge.goal) {
            std::cmp::Ordering::Equal => '|',
            std::cmp::Ordering::Greater => '/',
            std::cmp::Ordering::Less => '\\',
        };
        set(&mut cells, column, edge.goal);
        set(&mut marks, column, mark);
        moved.push(Edge { column, ..edge });
    }
    (render(&marks), moved)
}

/// Where an edge goes in the row being drawn, whose `cells` so far hold each edge's lane.
fn step(edge: &Edge, cells: &[Option<usize>]) -> usize {
    if edge.column <= edge.goal {
        return edge.column + usize::from(edge.column < edge.goal);
    }
    let left = edge.column - 1;
    let crossing = matches!(cells.get(left), Some(Some(goal)) if *goal != edge.goal);
    let hop_free = left > edge.goal && cells.get(left - 1).copied().flatten().is_none();
    if crossing && hop_free {
        left - 1
    } else {
        left
    }
}

/// Puts `value` at `index`, growing `cells` with empty cells as needed.
fn set<T: Copy>(cells: &mut Vec<Option<T>>, index: usize, value: T) {
    if cells.len() <= index {
        cells.resize(index + 1, None);
    }
    cells[index] = Some(value);
}

/// Marks as text, a space for each empty cell, without trailing spaces.
fn render(marks: &[Option<char>]) -> String {
    let text: String = marks.iter().map(|mark| mark.unwrap_or(' ')).collect();
    text.trim_end().to_owned()
}

/// The widest row plus the space before the text, rounded up to whole lanes.
fn width(rows: &GraphRows) -> usize {
    let widest = std::iter::once(&rows.commit)
        .chain(&rows.expansion)
        .chain(&rows.connectors)
        .chain(std::iter::once(&rows.padding))
        .map(|row| row.chars().count() + 1)
        .max()
        .unwrap_or(LANE_WIDTH_CHARS);
    widest.div_ceil(LANE_WIDTH_CHARS) * LANE_WIDTH_CHARS
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
        graph_rows(&listed)
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
        let rows = graph_rows(&commits.iter().collect::<Vec<_>>());
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
    fn text_lines_take_the_connectors_then_padding_and_align() {
        let commits = [commit("merge", &["main", "topic"]), commit("topic", &[])];
        let listed: Vec<&Commit> = commits.iter().collect();
        let rows = graph_rows(&listed);
        assert_eq!(rows[0].width, 4);
        assert_eq!(
            rows[0].draw("commit merge\nmerge: main topic\nappend\n\n"),
            "*   commit merge\n|\\  merge: main topic\n| | append\n| |\n"
        );
    }
}
