//! How recorded text is shown to a person. Recorded text is anyone's (an agent's commit message
//! and content, a session's task, an agent or branch name, a tool's colored output), and a
//! terminal acts on the control characters it is sent: ESC starts the sequences that recolor,
//! clear the screen, move the cursor or retitle the window, a lone CR returns to the start of
//! the line to print over it. So the human form shows control characters rather than sending
//! them: each C0 control as its Unicode control picture (ESC as `␛`, BEL as `␇`, a lone CR as
//! `␍`), DEL as `␡`, a C1 control as its escape (`\u{9b}`). `--json` output is left as it is:
//! JSON escapes control characters itself, and a program reading it must get the exact text.
//!
//! Two layouts. A [`block`] (a context's content, a diff, a whole command's output) keeps its
//! line breaks (LF, and CRLF whole) and tabs: a content is the agent's prompt, read as written.
//! A [`line`] (a name, a message in a one-line listing, an error) shows them as spaces, so that
//! a field cannot run over lines and pass for other output. [`quoted`] is a line in quotes, for
//! a name in a sentence.
//!
//! Architecture invariant: human output leaves the binary through `emit`, which shows all it
//! prints as a block, and `report`, which shows an error and its hint as lines; a command
//! passes each one-line field through [`line`] where it formats it.

use std::borrow::Cow;

/// Whether line breaks and tabs are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Line,
    Block,
}

/// `text` for one line of human output: control characters shown, line breaks and tabs as
/// spaces.
pub fn line(text: &str) -> Cow<'_, str> {
    visible(text, Layout::Line)
}

/// `text` for human output over several lines: control characters shown, except line breaks
/// (LF and CRLF) and tabs, which are kept.
pub fn block(text: &str) -> Cow<'_, str> {
    visible(text, Layout::Block)
}

/// `text` as [`line`] shows it, in double quotes: a name or a value in a sentence. Not Rust's
/// `{:?}`, whose `\u{1b}` and `\"` a person should not have to decode.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", line(text))
}

/// What a character shows as instead of itself.
enum Shown {
    Space,
    Picture(char),
    Escape(char),
}

/// What `c`, followed by `next`, shows as in `layout`; `None` when it shows as itself.
fn shown_as(c: char, next: Option<char>, layout: Layout) -> Option<Shown> {
    let kept = layout == Layout::Block;
    match c {
        '\n' | '\t' if kept => None,
        '\r' if kept && next == Some('\n') => None,
        '\n' | '\t' | '\r' if !kept => Some(Shown::Space),
        // The Control Pictures block holds one picture for each C0 control, in their order.
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)).map(Shown::Picture),
        '\u{7f}' => Some(Shown::Picture('\u{2421}')),
        c if c.is_control() => Some(Shown::Escape(c)),
        _ => None,
    }
}

/// `text` with every character a terminal would act on shown instead; borrowed when there is
/// none, as in almost all text (a context of tens of megabytes is not copied for nothing).
fn visible(text: &str, layout: Layout) -> Cow<'_, str> {
    let mut shown = String::new();
    // Bytes of `text` before this point are in `shown`, or need not be (when nothing was shown).
    let mut copied = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let next = chars.peek().map(|&(_, next)| next);
        let Some(instead) = shown_as(c, next, layout) else {
            continue;
        };
        if shown.is_empty() {
            shown.reserve(text.len() + 16);
        }
        shown.push_str(&text[copied..at]);
        match instead {
            Shown::Space => shown.push(' '),
            Shown::Picture(picture) => shown.push(picture),
            Shown::Escape(c) => shown.extend(c.escape_unicode()),
        }
        copied = at + c.len_utf8();
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    shown.push_str(&text[copied..]);
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::{block, line, quoted};
    use std::borrow::Cow;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "You are a coding agent.\n\tBe brief: ✓ ünïcode.\r\n";
        assert!(matches!(block(text), Cow::Borrowed(shown) if shown == text));
        assert!(matches!(line("main"), Cow::Borrowed("main")));
        assert!(matches!(line(""), Cow::Borrowed("")));
    }

    #[test]
    fn control_characters_show_as_pictures_or_escapes() {
        let text = "\u{1b}[31mred\u{7}\u{0}\u{7f}\u{9b}2J";
        let expected = "␛[31mred␇␀␡\\u{9b}2J";
        assert_eq!(line(text), expected);
        assert_eq!(block(text), expected);
    }

    #[test]
    fn a_block_keeps_line_breaks_and_tabs_but_not_a_lone_cr() {
        assert_eq!(
            block("a\n\tb\r\nc\rd\r"),
            "a\n\tb\r\nc␍d␍",
            "a CR that ends a line (CRLF) is kept, one that returns over a line is shown"
        );
        assert_eq!(block("\r\r\n"), "␍\r\n");
    }

    #[test]
    fn a_line_shows_line_breaks_and_tabs_as_spaces() {
        assert_eq!(line("a\n\tb\r\nc\rd"), "a  b  c d");
    }

    #[test]
    fn quoted_is_a_line_in_double_quotes() {
        assert_eq!(quoted("a\u{1b}[31mred\nx"), "\"a␛[31mred x\"");
        assert_eq!(quoted("say \"hi\""), "\"say \"hi\"\"");
    }
}
