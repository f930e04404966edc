//! The input line editor of the full-screen mode: the text being typed, the
//! cursor, word/line erasing, input history and nick completion.
//!
//! Pure data and editing operations on characters; it must not know about
//! key codes, terminals or IRC (the TUI maps keys to these methods and
//! `command.rs` interprets the submitted line).

/// Lines of history kept; older ones are forgotten.
const HISTORY_LIMIT: usize = 500;

#[derive(Debug, Default, Clone)]
pub struct Input {
    /// Characters, not bytes, so the cursor can never split a UTF-8 sequence.
    text: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Position in `history` while browsing it with Up/Down.
    browsing: Option<usize>,
    /// What was being typed before browsing started, restored past the end.
    draft: String,
}

impl Input {
    pub fn new() -> Input {
        Input::default()
    }

    pub fn text(&self) -> String {
        self.text.iter().collect()
    }

    /// Cursor position in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn insert(&mut self, c: char) {
        // Control characters would be sent to the server as they are.
        if c.is_control() {
            return;
        }
        self.text.insert(self.cursor, c);
        self.cursor += 1;
    }

    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars() {
            self.insert(if c == '\n' || c == '\t' { ' ' } else { c });
        }
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.text.len());
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.text.len();
    }

    /// Erases the character before the cursor.
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.text.remove(self.cursor);
        }
    }

    /// Erases the character under the cursor.
    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            self.text.remove(self.cursor);
        }
    }

    /// Ctrl-U: erases from the start of the line to the cursor.
    pub fn kill_to_start(&mut self) {
        self.text.drain(..self.cursor);
        self.cursor = 0;
    }

    /// Ctrl-K: erases from the cursor to the end of the line.
    pub fn kill_to_end(&mut self) {
        self.text.truncate(self.cursor);
    }

    /// Ctrl-W: erases the word before the cursor and the spaces after it.
    pub fn delete_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.text[start - 1] == ' ' {
            start -= 1;
        }
        while start > 0 && self.text[start - 1] != ' ' {
            start -= 1;
        }
        self.text.drain(start..self.cursor);
        self.cursor = start;
    }

    /// Enter: takes the line, remembers it in history, and clears the editor.
    pub fn submit(&mut self) -> String {
        let line = self.text();
        self.text.clear();
        self.cursor = 0;
        self.browsing = None;
        self.draft.clear();
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > HISTORY_LIMIT {
                self.history.remove(0);
            }
        }
        line
    }

    /// Enter on a line that must not be remembered (it holds a password):
    /// takes it and clears the editor, leaving the history as it was.
    pub fn take(&mut self) -> String {
        let line = self.text();
        self.text.clear();
        self.cursor = 0;
        self.browsing = None;
        self.draft.clear();
        line
    }

    /// Up: the previous history line.
    pub fn history_prev(&mut self) {
        if self.history.is_empty() {
            return;
        }
        let pos = match self.browsing {
            None => {
                self.draft = self.text();
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(p) => p - 1,
        };
        self.browsing = Some(pos);
        let line = self.history[pos].clone();
        self.set(&line);
    }

    /// Down: the next history line, or back to the draft past the newest.
    pub fn history_next(&mut self) {
        let Some(pos) = self.browsing else {
            return;
        };
        if pos + 1 < self.history.len() {
            self.browsing = Some(pos + 1);
            let line = self.history[pos + 1].clone();
            self.set(&line);
        } else {
            self.browsing = None;
            let draft = std::mem::take(&mut self.draft);
            self.set(&draft);
        }
    }

    fn set(&mut self, line: &str) {
        self.text = line.chars().collect();
        self.cursor = self.text.len();
    }

    /// Tab: completes the word before the cursor to the first of `nicks`
    /// that starts with it (case-insensitively), adding `: ` at the start of
    /// the line as is usual for addressing someone.
    pub fn complete(&mut self, nicks: &[&str]) {
        let mut start = self.cursor;
        while start > 0 && self.text[start - 1] != ' ' {
            start -= 1;
        }
        let word: String = self.text[start..self.cursor].iter().collect();
        if word.is_empty() {
            return;
        }
        let lower = word.to_lowercase();
        let Some(nick) = nicks.iter().find(|n| n.to_lowercase().starts_with(&lower)) else {
            return;
        };
        let suffix = if start == 0 { ": " } else { " " };
        let replacement: Vec<char> = format!("{nick}{suffix}").chars().collect();
        let n = replacement.len();
        self.text.splice(start..self.cursor, replacement);
        self.cursor = start + n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> Input {
        let mut i = Input::new();
        i.insert_str(s);
        i
    }

    #[test]
    fn insert_and_move() {
        let mut i = typed("hllo");
        i.home();
        i.right();
        i.insert('e');
        assert_eq!(i.text(), "hello");
        assert_eq!(i.cursor(), 2);
        i.end();
        i.insert('!');
        assert_eq!(i.text(), "hello!");
        i.right();
        assert_eq!(i.cursor(), 6);
        i.home();
        i.left();
        assert_eq!(i.cursor(), 0);
    }

    #[test]
    fn erase_keys() {
        let mut i = typed("héllo wörld");
        i.backspace();
        assert_eq!(i.text(), "héllo wörl");
        i.home();
        i.delete();
        assert_eq!(i.text(), "éllo wörl");
        i.end();
        i.delete();
        assert_eq!(i.text(), "éllo wörl");
        i.delete_word();
        assert_eq!(i.text(), "éllo ");
        i.delete_word();
        assert_eq!(i.text(), "");
        i.delete_word();
        i.backspace();
        assert_eq!(i.text(), "");

        let mut i = typed("one two three");
        for _ in 0..5 {
            i.left();
        }
        i.kill_to_start();
        assert_eq!(i.text(), "three");
        assert_eq!(i.cursor(), 0);
        i.right();
        i.kill_to_end();
        assert_eq!(i.text(), "t");
    }

    #[test]
    fn control_characters_are_not_inserted() {
        let i = typed("a\u{1b}[2Jb\u{7}");
        assert_eq!(i.text(), "a[2Jb");
    }

    #[test]
    fn history_browsing_keeps_draft() {
        let mut i = Input::new();
        i.insert_str("first");
        assert_eq!(i.submit(), "first");
        i.insert_str("second");
        i.submit();
        i.insert_str("second");
        i.submit(); // a repeat is stored once
        i.insert_str("   ");
        i.submit(); // blank lines are not stored
        i.insert_str("draft");
        i.history_prev();
        assert_eq!(i.text(), "second");
        i.history_prev();
        assert_eq!(i.text(), "first");
        i.history_prev();
        assert_eq!(i.text(), "first");
        i.history_next();
        assert_eq!(i.text(), "second");
        i.history_next();
        assert_eq!(i.text(), "draft");
        i.history_next();
        assert_eq!(i.text(), "draft");
    }

    #[test]
    fn taken_lines_stay_out_of_history() {
        let mut i = typed("kept");
        i.submit();
        i.insert_str("/login secret");
        assert_eq!(i.take(), "/login secret");
        assert!(i.is_empty());
        i.history_prev();
        assert_eq!(i.text(), "kept");
        i.history_prev();
        assert_eq!(i.text(), "kept");
    }

    #[test]
    fn nick_completion() {
        let mut i = typed("al");
        i.complete(&["bob", "Alice"]);
        assert_eq!(i.text(), "Alice: ");
        let mut i = typed("hi b");
        i.complete(&["bob", "Alice"]);
        assert_eq!(i.text(), "hi bob ");
        let mut i = typed("hi z");
        i.complete(&["bob"]);
        assert_eq!(i.text(), "hi z");
    }
}
