//! Drawing the full-screen client with ratatui: the buffer bar (unread and
//! mention counts; a window around the current buffer when they do not all
//! fit), the topic bar, the current buffer's scrollback (timestamps, a
//! stable colour per nick, wrapped at spaces with continuation rows under
//! the message text; lines from the server's history dimmed, between
//! `— history —` / `— live —` marks, with a date line wherever the day
//! changes), the member list of the current room (not below 60 columns),
//! the status line (server, nick and account, room, lag, scroll and history
//! state) and the input line (a password being typed shown as `*`).
//!
//! A pure function of the state model and the input editor onto a ratatui
//! `Frame`: it must not do I/O, read the clock, or change any state (so it
//! can be tested with `TestBackend` and called as often as needed).

use std::borrow::Cow;

use chatroom_proto::irc::casemap::CaseMapping;
use chatroom_proto::terminal::for_terminal;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::command::masked;
use super::input::Input;
use super::settings::Settings;
use super::state::{Buffer, BufferKind, Line, LineKind, Link, State, format_lag};

/// Width of the `HH:MM ` timestamp; wrapped lines are indented by it.
const TIME_WIDTH: usize = 6;

const NICK_COLORS: &[Color] = &[
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
];

/// A nick's colour: stable across runs and case, spread by an FNV-1a hash.
/// Folded as rfc1459 whatever the server's mapping, so a nick keeps its
/// colour from one server to the next.
pub fn nick_color(nick: &str) -> Color {
    let mut h: u32 = 0x811c_9dc5;
    for b in CaseMapping::Rfc1459.fold(nick).bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    NICK_COLORS[h as usize % NICK_COLORS.len()]
}

/// The screen areas, shared with the event loop (for page sizes).
pub struct Areas {
    pub bar: Rect,
    /// The topic bar (left out on a screen too short for it).
    pub topic: Option<Rect>,
    pub scrollback: Rect,
    pub members: Option<Rect>,
    pub status: Rect,
    pub input: Rect,
}

/// Below this width there is no member list, and the bars are shortened.
pub const NARROW: u16 = 60;

pub fn areas(state: &State, area: Rect) -> Areas {
    let with_topic = area.height >= 8;
    let [bar, topic, main, status, input] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(with_topic)),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let topic = with_topic.then_some(topic);
    let b = state.current_buffer();
    let show_members = b.kind == BufferKind::Channel && main.width >= NARROW;
    if !show_members {
        return Areas {
            bar,
            topic,
            scrollback: main,
            members: None,
            status,
            input,
        };
    }
    let longest = b
        .members
        .values()
        .map(|m| text_width(&m.nick) + m.prefix().map_or(0, |_| 1))
        .max()
        .unwrap_or(0);
    let width = (longest + 3).clamp(11, 23) as u16;
    let [scrollback, members] =
        Layout::horizontal([Constraint::Min(20), Constraint::Length(width)]).areas(main);
    Areas {
        bar,
        topic,
        scrollback,
        members: Some(members),
        status,
        input,
    }
}

/// Draws everything.
pub fn draw(frame: &mut Frame, state: &State, input: &Input) {
    let a = areas(state, frame.area());
    let (bar, _) = buffer_bar(state, a.bar.width as usize);
    frame.render_widget(Paragraph::new(bar), a.bar);
    if let Some(t) = a.topic {
        frame.render_widget(
            Paragraph::new(topic_line(state, t.width as usize))
                .style(Style::new().bg(Color::DarkGray).fg(Color::White)),
            t,
        );
    }
    let b = state.current_buffer();
    let rows = scrollback_rows(
        b,
        &state.settings,
        a.scrollback.width as usize,
        a.scrollback.height as usize,
    );
    frame.render_widget(Paragraph::new(rows), a.scrollback);
    if let Some(m) = a.members {
        let block = Block::new()
            .borders(Borders::LEFT)
            .border_style(Style::new().fg(Color::DarkGray));
        let inner = block.inner(m);
        frame.render_widget(block, m);
        frame.render_widget(
            Paragraph::new(member_rows(state, inner.height as usize)),
            inner,
        );
    }
    frame.render_widget(
        Paragraph::new(status_line(state, a.status.width))
            .style(Style::new().bg(Color::Blue).fg(Color::White)),
        a.status,
    );
    let (line, cursor_x) = input_line(state, input, a.input.width as usize);
    frame.render_widget(Paragraph::new(line), a.input);
    frame.set_cursor_position(Position::new(a.input.x + cursor_x as u16, a.input.y));
}

/// `text` cut to `max` columns, with `…` where it was cut.
fn fit(text: &str, max: usize) -> String {
    if text_width(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = char_width(c);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// The buffer bar for a terminal `width` columns wide, and where each
/// buffer's label is (its first and last column + 1; `None`: not shown).
/// When the labels do not all fit, the bar shows a window of them around
/// the current buffer, so it is always in view, with `<` and `>` where
/// more are hidden; on a narrow screen long names are shortened.
pub fn buffer_bar(state: &State, width: usize) -> (TextLine<'static>, Vec<Option<(usize, usize)>>) {
    let name_max = if width < NARROW as usize { 12 } else { 24 };
    let labels: Vec<(String, Style)> = state
        .buffers
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let name = for_terminal(&b.name, false);
            let label = format!(" {}:{}{} ", i + 1, fit(&name, name_max), counts(b));
            let style = if i == state.current {
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else if b.highlight {
                Style::new()
                    .fg(Color::LightRed)
                    .add_modifier(Modifier::BOLD)
            } else if b.unread > 0 {
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
            } else {
                Style::new().fg(Color::Gray)
            };
            (label, style)
        })
        .collect();
    let widths: Vec<usize> = labels.iter().map(|(l, _)| text_width(l)).collect();
    let total: usize = widths.iter().sum();
    let (mut first, mut last) = (0, labels.len());
    if total > width && !labels.is_empty() {
        // Grow a window from the current buffer, rightwards first, within
        // the width less room for the `<` and `>` marks.
        let cur = state.current.min(labels.len() - 1);
        let room = width.saturating_sub(2);
        let (mut lo, mut hi, mut used) = (cur, cur + 1, widths[cur]);
        loop {
            if hi < labels.len() && used + widths[hi] <= room {
                used += widths[hi];
                hi += 1;
            } else if lo > 0 && used + widths[lo - 1] <= room {
                lo -= 1;
                used += widths[lo];
            } else {
                break;
            }
        }
        first = lo;
        last = hi;
    }
    let mut spans = Vec::new();
    let mut places = vec![None; labels.len()];
    let mut x = 0;
    let more = Style::new()
        .fg(Color::DarkGray)
        .add_modifier(Modifier::BOLD);
    if first > 0 {
        spans.push(Span::styled("<", more));
        x += 1;
    }
    for (i, (label, style)) in labels.into_iter().enumerate().take(last).skip(first) {
        places[i] = Some((x, x + widths[i]));
        x += widths[i];
        spans.push(Span::styled(label, style));
    }
    if last < places.len() {
        // At the right edge, where the hidden buffers are.
        spans.push(Span::raw(" ".repeat(width.saturating_sub(x + 1))));
        spans.push(Span::styled(">", more));
    }
    (TextLine::from(spans), places)
}

/// The buffer whose label is at column `x` of the bar, for a mouse click.
pub fn bar_hit(state: &State, width: usize, x: usize) -> Option<usize> {
    let (_, places) = buffer_bar(state, width);
    places
        .iter()
        .position(|p| p.is_some_and(|(from, to)| (from..to).contains(&x)))
}

/// The topic bar: the room's topic, who a private buffer is with, or the
/// server.
fn topic_line(state: &State, width: usize) -> TextLine<'static> {
    let b = state.current_buffer();
    let text = match b.kind {
        BufferKind::Channel => match &b.topic {
            Some(t) => t.clone(),
            None if b.joined => format!("{}: no topic (/topic TEXT sets one)", b.name),
            None => format!("{}: not joined (/join {})", b.name, b.name),
        },
        BufferKind::Query => format!("private conversation with {}", b.name),
        BufferKind::Server => {
            let name = state
                .server_name
                .clone()
                .unwrap_or_else(|| state.server.clone());
            format!("{name}: server messages")
        }
    };
    let text = for_terminal(&text, false);
    TextLine::from(format!(" {}", fit(&text, width.saturating_sub(1))))
}

/// A buffer's waiting lines as the bar shows them: `(5)` unread, `(2!)`
/// when all of them are for us, `(2!,5)` two of five.
fn counts(b: &Buffer) -> String {
    match (b.mentions, b.unread) {
        (_, 0) => String::new(),
        (0, u) => format!("({u})"),
        (m, u) if m >= u => format!("({m}!)"),
        (m, u) => format!("({m}!,{u})"),
    }
}

fn status_line(state: &State, width: u16) -> TextLine<'static> {
    let narrow = width < NARROW;
    let b = state.current_buffer();
    let mut parts = Vec::new();
    if !narrow {
        let server = state
            .server_name
            .clone()
            .unwrap_or_else(|| state.server.clone());
        parts.push(format!("[{server}]"));
    }
    let mut me = state.nick.clone();
    if let Some(account) = state.account.as_ref().filter(|_| !narrow) {
        me.push_str(&format!(" [account {account}]"));
    }
    if state.away.is_some() {
        me.push_str(" (away)");
    }
    parts.push(me);
    match b.kind {
        BufferKind::Channel => {
            let n = b.members.len();
            let mut room = if narrow {
                format!("{} ({n})", b.name)
            } else {
                format!("{} ({})", b.name, users(n))
            };
            if !b.joined {
                room.push_str(" not joined");
            }
            parts.push(room);
        }
        BufferKind::Query if narrow => parts.push(b.name.clone()),
        BufferKind::Query => parts.push(format!("private: {}", b.name)),
        BufferKind::Server => parts.push("server".to_string()),
    }
    parts.push(match state.link {
        Link::Connecting => "connecting…".to_string(),
        Link::Registering => "registering…".to_string(),
        Link::Registered => match state.lag {
            Some(lag) => format!("lag {}", format_lag(lag)),
            None => "lag ?".to_string(),
        },
        Link::Disconnected { retry_in: Some(d) } => {
            format!("disconnected, retry in {}s", d.as_secs().max(1))
        }
        Link::Disconnected { retry_in: None } => "disconnected (/reconnect)".to_string(),
    });
    if b.scroll > 0 {
        parts.push(if narrow {
            format!("-{}", b.scroll)
        } else {
            format!("scrolled up {} (PageDown)", b.scroll)
        });
    }
    if b.hist.fetching.is_some() {
        parts.push("fetching history…".to_string());
    }
    if b.hist.newer_unloaded {
        parts.push("newer lines not loaded (PageDown, Enter)".to_string());
    }
    TextLine::from(format!(" {}", for_terminal(&parts.join(" | "), false)))
}

/// `1 user`, `3 users`.
fn users(n: usize) -> String {
    format!("{n} {}", if n == 1 { "user" } else { "users" })
}

fn member_rows(state: &State, height: usize) -> Vec<TextLine<'static>> {
    let members = state.sorted_members(state.current);
    let mut rows = vec![TextLine::styled(
        format!(" {}", users(members.len())),
        Style::new().fg(Color::DarkGray),
    )];
    let room = height.saturating_sub(1);
    let shown = if members.len() > room {
        room.saturating_sub(1)
    } else {
        members.len()
    };
    for m in members.iter().take(shown) {
        let prefix = m
            .prefix()
            .map(String::from)
            .unwrap_or_else(|| " ".to_string());
        rows.push(TextLine::from(vec![
            Span::styled(format!(" {prefix}"), Style::new().fg(Color::LightGreen)),
            Span::styled(
                for_terminal(&m.nick, false).into_owned(),
                Style::new().fg(nick_color(&m.nick)),
            ),
        ]));
    }
    if shown < members.len() {
        rows.push(TextLine::styled(
            format!(" +{} more", members.len() - shown),
            Style::new().fg(Color::DarkGray),
        ));
    }
    rows
}

/// The spans of one scrollback line, before wrapping. History lines are
/// dimmed so they read as the past even without their marks in view.
pub fn line_spans(line: &Line, settings: &Settings) -> Vec<Span<'static>> {
    line_layout(line, settings).0
}

/// The spans of one line and the column where its text starts, under
/// which wrapped rows are aligned.
fn line_layout(line: &Line, settings: &Settings) -> (Vec<Span<'static>>, usize) {
    let (mut spans, indent) = talk_spans(line, settings);
    for span in &mut spans {
        if let Cow::Owned(shown) = for_terminal(&span.content, false) {
            span.content = Cow::Owned(shown);
        }
    }
    if line.history {
        for span in &mut spans {
            span.style = span.style.add_modifier(Modifier::DIM);
        }
    }
    (spans, indent)
}

fn talk_spans(line: &Line, settings: &Settings) -> (Vec<Span<'static>>, usize) {
    let dim = Style::new().fg(Color::DarkGray);
    // The format was checked when set, so formatting cannot fail.
    let time = format!("{} ", line.time.format(&settings.time_format));
    if let LineKind::Marker(text) = &line.kind {
        let pad = " ".repeat(text_width(&time));
        return (
            vec![Span::styled(
                format!("{pad}{text}"),
                dim.add_modifier(Modifier::BOLD),
            )],
            text_width(&time),
        );
    }
    let mut spans = vec![Span::styled(time, dim)];
    let nick_style = |nick: &str, own: bool| {
        let s = if settings.colors {
            Style::new().fg(nick_color(nick))
        } else {
            Style::new()
        };
        if own {
            s.add_modifier(Modifier::BOLD)
        } else {
            s
        }
    };
    let text = match &line.kind {
        LineKind::Message { nick, text, own } => {
            spans.push(Span::raw("<"));
            spans.push(Span::styled(nick.clone(), nick_style(nick, *own)));
            spans.push(Span::raw("> "));
            Span::raw(text.clone())
        }
        LineKind::Action { nick, text, own } => {
            spans.push(Span::raw(" * "));
            spans.push(Span::styled(nick.clone(), nick_style(nick, *own)));
            spans.push(Span::raw(" "));
            Span::styled(text.clone(), Style::new().add_modifier(Modifier::ITALIC))
        }
        LineKind::Notice { nick, text, own } => {
            spans.push(Span::raw("-"));
            spans.push(Span::styled(nick.clone(), nick_style(nick, *own)));
            spans.push(Span::raw("- "));
            Span::raw(text.clone())
        }
        kind => {
            let text = kind.event_text().unwrap_or_default();
            let (mark, style) = match kind {
                LineKind::Join { .. } => ("--> ", Style::new().fg(Color::Green)),
                LineKind::Part { .. } | LineKind::Quit { .. } | LineKind::Kick { .. } => {
                    ("<-- ", Style::new().fg(Color::Red))
                }
                LineKind::Error(_) => ("!! ", Style::new().fg(Color::LightRed)),
                LineKind::Connected { .. } => ("-- ", Style::new().fg(Color::Green)),
                _ => ("-- ", Style::new().fg(Color::Cyan)),
            };
            spans.push(Span::styled(mark, style));
            // A block's detail lines (`  in #lobby`) align under their
            // own text, not under the head's.
            let inner = text.len() - text.trim_start().len();
            spans.push(Span::styled(" ".repeat(inner), style));
            Span::styled(text.trim_start().to_string(), style)
        }
    };
    let indent = spans.iter().map(|s| s.width()).sum();
    spans.push(text);
    (spans, indent)
}

fn char_width(c: char) -> usize {
    let mut b = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut b)).width()
}

fn text_width(s: &str) -> usize {
    Span::raw(s).width()
}

/// Wraps styled spans into rows of at most `width` columns, breaking at
/// spaces; rows after the first start at column `indent` (under the
/// message text). A word longer than a row is cut where the row ends.
///
/// Written here rather than with a text-wrapping crate because it works on
/// styled spans (a nick keeps its colour across a break) and aligns under
/// a column that depends on the line's own prefix.
fn wrap(spans: Vec<Span<'static>>, indent: usize, width: usize) -> Vec<TextLine<'static>> {
    let width = width.max(1);
    // Aligning under the text is only worth it with room left for it.
    let indent = if indent * 2 > width {
        TIME_WIDTH.min(width / 3)
    } else {
        indent
    };
    let cells: Vec<(char, Style, usize)> = spans
        .iter()
        .flat_map(|sp| {
            sp.content
                .chars()
                .map(move |c| (c, sp.style, char_width(c)))
        })
        .collect();
    let mut rows: Vec<Vec<(char, Style)>> = Vec::new();
    let mut row: Vec<(char, Style)> = Vec::new();
    let mut used = 0;
    let new_row = |rows: &mut Vec<Vec<(char, Style)>>, row: &mut Vec<(char, Style)>| {
        rows.push(std::mem::take(row));
        row.extend(std::iter::repeat_n((' ', Style::new()), indent));
    };
    let mut i = 0;
    while i < cells.len() {
        // The next word (non-spaces) and the spaces after it.
        let mut end = i;
        while end < cells.len() && cells[end].0 != ' ' {
            end += 1;
        }
        let mut after = end;
        while after < cells.len() && cells[after].0 == ' ' {
            after += 1;
        }
        let word: usize = cells[i..end].iter().map(|c| c.2).sum();
        if used + word > width && used > indent && word <= width - indent {
            new_row(&mut rows, &mut row);
            used = indent;
            continue;
        }
        for &(c, style, w) in &cells[i..end] {
            if used + w > width && used > indent {
                new_row(&mut rows, &mut row);
                used = indent;
            }
            row.push((c, style));
            used += w;
        }
        // Spaces that do not fit are where the row breaks.
        for &(c, style, w) in &cells[end..after] {
            if used + w <= width {
                row.push((c, style));
                used += w;
            }
        }
        i = after;
    }
    rows.push(row);
    rows.into_iter()
        .map(|cells| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            for (c, style) in cells {
                match spans.last_mut() {
                    Some(last) if last.style == style => last.content.to_mut().push(c),
                    _ => spans.push(Span::styled(c.to_string(), style)),
                }
            }
            TextLine::from(spans)
        })
        .collect()
}

/// One line as the rows it takes at `width`.
fn wrapped(line: &Line, settings: &Settings, width: usize) -> Vec<TextLine<'static>> {
    let (spans, indent) = line_layout(line, settings);
    wrap(spans, indent, width)
}

/// A row naming the day, above the first line of each day but the first
/// shown (times alone are ambiguous once history reaches past days).
fn day_row(line: &Line) -> TextLine<'static> {
    TextLine::styled(
        format!("      — {} —", line.time.format("%a %Y-%m-%d")),
        Style::new().fg(Color::DarkGray),
    )
}

/// The rows that fill the scrollback area: the newest lines (less the
/// scroll offset) at the bottom; scrolled all the way up (less than a
/// screen above the offset), the oldest lines from the top.
fn scrollback_rows(
    b: &Buffer,
    settings: &Settings,
    width: usize,
    height: usize,
) -> Vec<TextLine<'static>> {
    let end = b.lines.len().saturating_sub(b.scroll);
    let mut rows: Vec<TextLine<'static>> = Vec::new();
    let mut newer: Option<&Line> = None;
    for line in b.lines.range(..end).rev() {
        let mut wrapped = wrapped(line, settings, width);
        // Marks carry the time they were made, not a message's: skipped.
        if !matches!(line.kind, LineKind::Marker(_)) {
            if let Some(n) = newer
                && n.time.date_naive() != line.time.date_naive()
            {
                wrapped.push(day_row(n));
            }
            newer = Some(line);
        }
        wrapped.extend(rows);
        rows = wrapped;
        if rows.len() >= height {
            break;
        }
    }
    if rows.len() < height && b.scroll > 0 {
        // At the top: fill the view with the lines below the offset rather
        // than leave it half empty.
        let mut older = b
            .lines
            .range(..end)
            .rev()
            .find(|l| !matches!(l.kind, LineKind::Marker(_)));
        for line in b.lines.range(end..) {
            if !matches!(line.kind, LineKind::Marker(_)) {
                if let Some(o) = older
                    && o.time.date_naive() != line.time.date_naive()
                {
                    rows.push(day_row(line));
                }
                older = Some(line);
            }
            rows.extend(wrapped(line, settings, width));
            if rows.len() >= height {
                break;
            }
        }
        rows.truncate(height);
    }
    if rows.len() > height {
        rows.drain(..rows.len() - height);
    }
    // Bottom-align: a short buffer sits just above the status line.
    let mut out = vec![TextLine::default(); height - rows.len()];
    out.extend(rows);
    out
}

/// The largest useful scroll offset for buffer `b` in a scrollback area of
/// `width` x `height`: scrolled further, the view would not move (it
/// already starts at the oldest line), so PageDown would seem stuck.
pub fn max_scroll(b: &Buffer, settings: &Settings, width: usize, height: usize) -> usize {
    let mut rows = 0;
    for (n, line) in b.lines.iter().enumerate() {
        rows += wrapped(line, settings, width).len();
        if rows >= height {
            return b.lines.len() - (n + 1);
        }
    }
    0
}

/// The input line and the cursor's column within it. Scrolls sideways so the
/// cursor stays visible.
fn input_line(state: &State, input: &Input, width: usize) -> (TextLine<'static>, usize) {
    let prompt = format!("[{}] ", state.current_buffer().name);
    let prompt_w = text_width(&prompt);
    // A password being typed shows as `*` (one per character, so the
    // cursor stays where it is in the real text).
    let chars: Vec<char> = masked(&input.text()).chars().collect();
    let cursor = input.cursor().min(chars.len());
    // Leave at least half the line for the text when the prompt is long.
    let (prompt, prompt_w) = if prompt_w > width / 2 {
        (String::new(), 0)
    } else {
        (prompt, prompt_w)
    };
    let avail = width.saturating_sub(prompt_w).max(1);
    let mut start = 0;
    let width_of = |from: usize, to: usize| {
        chars[from..to]
            .iter()
            .map(|&c| char_width(c))
            .sum::<usize>()
    };
    while start < cursor && width_of(start, cursor) >= avail {
        start += 1;
    }
    let mut shown = String::new();
    let mut used = 0;
    for &c in &chars[start..] {
        let w = char_width(c);
        if used + w > avail {
            break;
        }
        shown.push(c);
        used += w;
    }
    let cursor_x = prompt_w + width_of(start, cursor);
    let line = TextLine::from(vec![
        Span::styled(prompt, Style::new().fg(Color::Cyan)),
        Span::raw(shown),
    ]);
    (line, cursor_x.min(width.saturating_sub(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Now;
    use chatroom_proto::irc::message::Message;
    use chrono::{Local, TimeZone};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use std::time::Instant;

    fn now() -> Now {
        Now {
            instant: Instant::now(),
            local: Local
                .with_ymd_and_hms(2024, 5, 1, 12, 1, 0)
                .single()
                .expect("valid time"),
        }
    }

    fn feed(state: &mut State, line: &str) {
        let msg = Message::parse(line).expect("test line parses");
        state.handle_message(&msg, now());
    }

    fn sample() -> State {
        let mut s = State::new("127.0.0.1:6667", "me", Some("#lobby"));
        s.on_connected("127.0.0.1:6667", now());
        feed(&mut s, ":irc.test 001 me :Welcome");
        feed(&mut s, ":me!u@h JOIN #lobby");
        feed(&mut s, ":irc.test 353 me = #lobby :me @alice bob");
        feed(&mut s, ":irc.test 366 me #lobby :End of NAMES");
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :hello everyone");
        feed(&mut s, ":carol!c@h PRIVMSG me :are you there?");
        feed(&mut s, ":carol!c@h PRIVMSG me :hello?");
        s
    }

    fn screen(state: &State, input: &Input, w: u16, h: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        terminal.draw(|f| draw(f, state, input)).expect("draws");
        let buf = terminal.backend().buffer();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect()
    }

    /// The whole screen as a picture: one row per line, framed with `|` so
    /// every column (trailing blanks too) is compared.
    fn picture(state: &State, input: &Input, w: u16, h: u16) -> String {
        screen(state, input, w, h)
            .iter()
            .map(|r| format!("|{r}|"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Compares the whole rendered screen with `expected` (its first and
    /// last newline left out), printing both on a difference.
    #[track_caller]
    fn assert_screen(state: &State, input: &Input, w: u16, h: u16, expected: &str) {
        let got = picture(state, input, w, h);
        let want = expected.trim_start_matches('\n').trim_end_matches('\n');
        assert!(
            got == want,
            "screen differs.\n--- got:\n{got}\n--- expected:\n{want}"
        );
    }

    #[test]
    fn screen_wraps_at_words_under_the_text() {
        let mut s = sample();
        let i = s.find_buffer("#lobby").expect("lobby");
        s.switch_to(i);
        s.lag = Some(std::time::Duration::from_millis(12));
        feed(
            &mut s,
            ":alice!a@h PRIVMSG #lobby :the quick brown fox jumps over the lazy dog and then keeps running far away",
        );
        feed(
            &mut s,
            ":bob!b@h PRIVMSG #lobby :see https://example.org/a/very/long/path/that/cannot/fit/on/one/row ok",
        );
        feed(
            &mut s,
            ":bob!b@h PRIVMSG #lobby :\u{1}ACTION waves at everyone who is still reading this\u{1}",
        );
        assert_screen(
            &s,
            &Input::new(),
            60,
            14,
            "
| 1:127.0.0.1:6667  2:#lobby  3:carol(2!)                    |
| #lobby: no topic (/topic TEXT sets one)                    |
|12:01 --> me joined                              │ 3 users  |
|12:01 -- 3 here: @alice bob me                   │ @alice   |
|12:01 <alice> hello everyone                     │  bob     |
|12:01 <alice> the quick brown fox jumps over the │  me      |
|              lazy dog and then keeps running far│          |
|              away                               │          |
|12:01 <bob> see https://example.org/a/very/long/p│          |
|            ath/that/cannot/fit/on/one/row ok    │          |
|12:01  * bob waves at everyone who is still      │          |
|             reading this                        │          |
| [irc.test] | me | #lobby (3 users) | lag 12ms              |
|[#lobby]                                                    |
",
        );
    }

    #[test]
    fn screen_shows_the_topic_bar() {
        let mut s = sample();
        let i = s.find_buffer("#lobby").expect("lobby");
        s.switch_to(i);
        feed(
            &mut s,
            ":irc.test 332 me #lobby :Pizza night: Friday 8pm, room 2 — bring drinks",
        );
        assert_screen(
            &s,
            &Input::new(),
            60,
            9,
            "
| 1:127.0.0.1:6667  2:#lobby  3:carol(2!)                    |
| Pizza night: Friday 8pm, room 2 — bring drinks             |
|12:01 --> me joined                              │ 3 users  |
|12:01 -- 3 here: @alice bob me                   │ @alice   |
|12:01 <alice> hello everyone                     │  bob     |
|12:01 -- topic: Pizza night: Friday 8pm, room 2 —│  me      |
|         bring drinks                            │          |
| [irc.test] | me | #lobby (3 users) | lag ?                 |
|[#lobby]                                                    |
",
        );
        let q = s.find_buffer("carol").expect("carol");
        s.switch_to(q);
        assert_screen(
            &s,
            &Input::new(),
            60,
            9,
            "
| 1:127.0.0.1:6667  2:#lobby  3:carol                        |
| private conversation with carol                            |
|                                                            |
|                                                            |
|                                                            |
|12:01 <carol> are you there?                                |
|12:01 <carol> hello?                                        |
| [irc.test] | me | private: carol | lag ?                   |
|[carol]                                                     |
",
        );
    }

    #[test]
    fn screen_at_40_columns_keeps_the_current_buffer_in_view() {
        let mut s = sample();
        for room in ["#rust", "#pizza-and-games-night", "#music"] {
            feed(&mut s, &format!(":me!u@h JOIN {room}"));
        }
        feed(
            &mut s,
            ":dave!d@h PRIVMSG #rust :anyone up for a borrow-checker puzzle tonight?",
        );
        let music = s.find_buffer("#music").expect("music");
        s.switch_to(music);
        feed(
            &mut s,
            ":dave!d@h PRIVMSG #music :tuning the guitar, one moment please",
        );
        assert_screen(
            &s,
            &Input::new(),
            40,
            10,
            "
|< 4:#rust(1)  5:#pizza-and-…  6:#music  |
| #music: no topic (/topic TEXT sets one)|
|                                        |
|                                        |
|                                        |
|12:01 --> me joined                     |
|12:01 <dave> tuning the guitar, one     |
|             moment please              |
| me | #music (1) | lag ?                |
|[#music]                                |
",
        );
        // The first buffer current: the window starts at the left.
        s.switch_to(0);
        let rows = screen(&s, &Input::new(), 40, 10);
        assert_eq!(
            rows[0], " 1:127.0.0.1:6…  2:#lobby              >",
            "{rows:?}"
        );
    }

    #[test]
    fn a_click_on_the_bar_finds_the_buffer_under_it() {
        let s = sample();
        // ` 1:127.0.0.1:6667  2:#lobby  3:carol(2!) `
        assert_eq!(bar_hit(&s, 60, 1), Some(0));
        assert_eq!(bar_hit(&s, 60, 20), Some(1));
        assert_eq!(bar_hit(&s, 60, 30), Some(2));
        assert_eq!(bar_hit(&s, 60, 59), None);
    }

    #[test]
    fn screen_shows_whois_as_a_block() {
        let mut s = sample();
        let i = s.find_buffer("#lobby").expect("lobby");
        s.switch_to(i);
        for line in [
            ":irc.test 311 me nora n 127.0.0.1 * :Nora N",
            ":irc.test 319 me nora :#lobby @#ops",
            ":irc.test 312 me nora irc.test :LAN chat",
            ":irc.test 330 me nora nora :is logged in as",
            ":irc.test 317 me nora 84 :seconds idle",
            ":irc.test 318 me nora :End of /WHOIS list.",
        ] {
            feed(&mut s, line);
        }
        assert_screen(
            &s,
            &Input::new(),
            60,
            12,
            "
| 1:127.0.0.1:6667  2:#lobby  3:carol(2!)                    |
| #lobby: no topic (/topic TEXT sets one)                    |
|12:01 --> me joined                              │ 3 users  |
|12:01 -- 3 here: @alice bob me                   │ @alice   |
|12:01 <alice> hello everyone                     │  bob     |
|12:01 -- nora is n@127.0.0.1 (Nora N)            │  me      |
|12:01 --   in #lobby, @#ops                      │          |
|12:01 --   on irc.test (LAN chat)                │          |
|12:01 --   logged in as nora                     │          |
|12:01 --   idle 1m 24s                           │          |
| [irc.test] | me | #lobby (3 users) | lag ?                 |
|[#lobby]                                                    |
",
        );
    }

    #[test]
    fn shows_bar_messages_members_status_and_input() {
        let mut s = sample();
        s.lag = Some(std::time::Duration::from_millis(12));
        let mut input = Input::new();
        input.insert_str("typing");
        let rows = screen(&s, &input, 80, 12);
        let all = rows.join("\n");
        // Buffer bar: three buffers, the private one with 2 unread.
        assert!(
            rows[0].starts_with(" 1:127.0.0.1:6667  2:#lobby  3:carol(2!) "),
            "{all}"
        );
        // A message line with its timestamp.
        assert!(all.contains("12:01 <alice> hello everyone"), "{all}");
        // Member list, ops first with @.
        assert!(all.contains("3 users"), "{all}");
        let alice = rows.iter().position(|r| r.contains(" @alice")).expect(&all);
        let bob = rows
            .iter()
            .position(|r| r.ends_with("  bob") || r.contains("  bob "))
            .expect(&all);
        assert!(alice < bob, "{all}");
        // Status line: server name, nick, room, lag.
        assert!(
            rows[10].contains("[irc.test] | me | #lobby (3 users) | lag 12ms"),
            "{all}"
        );
        // Input line with prompt.
        assert!(rows[11].starts_with("[#lobby] typing"), "{all}");
    }

    #[test]
    fn time_format_and_colours_follow_the_settings() {
        let mut s = sample();
        s.settings.set("time_format", "%H:%M:%S").expect("set");
        let all = screen(&s, &Input::new(), 80, 12).join("\n");
        assert!(all.contains("12:01:00 <alice> hello everyone"), "{all}");
        let i = s.find_buffer("#lobby").expect("lobby");
        let line = s.buffers[i].lines.back().expect("line").clone();
        let coloured = |s: &State| {
            line_spans(&line, &s.settings)
                .iter()
                .any(|sp| sp.content == "alice" && sp.style.fg.is_some())
        };
        assert!(coloured(&s));
        s.settings.set("colors", "off").expect("set");
        assert!(!coloured(&s));
    }

    #[test]
    fn private_buffer_has_no_member_list() {
        let mut s = sample();
        let q = s.find_buffer("carol").expect("query");
        s.switch_to(q);
        let rows = screen(&s, &Input::new(), 60, 8);
        let all = rows.join("\n");
        assert!(all.contains("<carol> hello?"), "{all}");
        assert!(!all.contains("users"), "{all}");
        assert!(rows[6].contains("private: carol"), "{all}");
        assert!(rows[0].contains("3:carol "), "unread cleared: {all}");
    }

    #[test]
    fn long_lines_wrap_and_scrolling_hides_newest() {
        let mut s = sample();
        s.switch_to(0);
        let i = s.find_buffer("#lobby").expect("lobby");
        s.switch_to(i);
        for n in 0..10 {
            feed(&mut s, &format!(":bob!b@h PRIVMSG #lobby :filler {n}"));
        }
        let long = format!("{} END", "x".repeat(70));
        feed(&mut s, &format!(":bob!b@h PRIVMSG #lobby :{long}"));
        let rows = screen(&s, &Input::new(), 60, 10);
        let all = rows.join("\n");
        assert!(all.contains("END"), "{all}");
        let end_row = rows
            .iter()
            .find(|r| r.contains("END"))
            .expect("wrapped row");
        assert!(
            end_row.starts_with("            x"),
            "continuation under the text: {all}"
        );
        s.scroll_up(1, 8, now());
        let rows = screen(&s, &Input::new(), 60, 10);
        let all = rows.join("\n");
        assert!(!all.contains("END"), "{all}");
        assert!(all.contains("scrolled up 1"), "{all}");
    }

    #[test]
    fn history_is_marked_and_the_top_of_the_buffer_fills_the_view() {
        let mut s = sample();
        let i = s.find_buffer("#lobby").expect("lobby");
        s.switch_to(i);
        s.buffers[i].lines.clear();
        let old = Local
            .with_ymd_and_hms(2024, 4, 30, 9, 15, 0)
            .single()
            .expect("valid time");
        let mut history = Line::new(
            old,
            LineKind::Message {
                nick: "alice".into(),
                text: "yesterday's words".into(),
                own: false,
            },
        );
        history.history = true;
        for kind in [
            LineKind::Marker("— beginning of history —".into()),
            history.kind.clone(),
        ] {
            let mut l = history.clone();
            l.kind = kind;
            s.buffers[i].lines.push_back(l);
        }
        s.buffers[i]
            .lines
            .push_back(Line::new(now().local, LineKind::Marker("— live —".into())));
        for n in 0..3 {
            feed(&mut s, &format!(":bob!b@h PRIVMSG #lobby :today {n}"));
        }
        let rows = screen(&s, &Input::new(), 80, 12);
        let all = rows.join("\n");
        assert!(all.contains("09:15 <alice> yesterday's words"), "{all}");
        // The day changes between the history and today: a date row.
        let day = rows
            .iter()
            .position(|r| r.contains("— Wed 2024-05-01 —"))
            .expect(&all);
        let today = rows.iter().position(|r| r.contains("today 0")).expect(&all);
        let yesterday = rows
            .iter()
            .position(|r| r.contains("yesterday's"))
            .expect(&all);
        assert!(yesterday < day && day < today, "{all}");
        // Dimmed: history spans carry DIM, live ones do not.
        let spans = line_spans(&s.buffers[i].lines[1], &s.settings);
        assert!(
            spans
                .iter()
                .all(|sp| sp.style.add_modifier.contains(Modifier::DIM))
        );
        let live = s.buffers[i].lines.back().expect("line");
        assert!(
            !line_spans(live, &s.settings)
                .iter()
                .any(|sp| sp.style.add_modifier.contains(Modifier::DIM))
        );
        // Scrolled to the very top, the view starts at the oldest line
        // instead of showing it alone at the bottom.
        for n in 3..20 {
            feed(&mut s, &format!(":bob!b@h PRIVMSG #lobby :today {n}"));
        }
        s.buffers[i].scroll = s.buffers[i].lines.len() - 1;
        let rows = screen(&s, &Input::new(), 80, 12);
        let all = rows.join("\n");
        assert!(rows[2].contains("— beginning of history —"), "{all}");
        assert!(rows[3].contains("yesterday's words"), "{all}");
        assert!(all.contains("today 2"), "{all}");
        assert!(!all.contains("today 19"), "{all}");
    }

    #[test]
    fn max_scroll_stops_where_the_oldest_line_is_at_the_top() {
        let mut s = sample();
        let i = s.find_buffer("#lobby").expect("lobby");
        s.switch_to(i);
        for n in 0..30 {
            feed(&mut s, &format!(":bob!b@h PRIVMSG #lobby :line {n}"));
        }
        let a = areas(&s, Rect::new(0, 0, 60, 12)).scrollback;
        let (w, h) = (a.width as usize, a.height as usize);
        let b = &s.buffers[i];
        let max = max_scroll(b, &s.settings, w, h);
        assert_eq!(max, b.lines.len() - h);
        s.buffers[i].scroll = max;
        let rows = screen(&s, &Input::new(), 60, 12);
        assert!(rows[2].contains("me joined"), "{}", rows.join("\n"));
        // A buffer that fits needs no scrolling at all.
        assert_eq!(max_scroll(&s.buffers[0], &s.settings, 60, 100), 0);
    }

    #[test]
    fn disconnected_status_and_events() {
        let mut s = sample();
        feed(&mut s, ":bob!b@h PART #lobby :later");
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :\u{1}ACTION waves\u{1}");
        s.on_disconnected("reset", Some(std::time::Duration::from_secs(4)), now());
        let rows = screen(&s, &Input::new(), 100, 10);
        let all = rows.join("\n");
        assert!(all.contains("<-- bob left (later)"), "{all}");
        assert!(all.contains(" * alice waves"), "{all}");
        assert!(all.contains("reconnecting in 4s"), "{all}");
        assert!(rows[8].contains("disconnected, retry in 4s"), "{all}");
    }

    #[test]
    fn input_scrolls_to_keep_cursor_visible() {
        let s = sample();
        let mut input = Input::new();
        input.insert_str(&"abcdefghij".repeat(10));
        let mut terminal = Terminal::new(TestBackend::new(40, 6)).expect("terminal");
        terminal.draw(|f| draw(f, &s, &input)).expect("draws");
        let pos = terminal.backend().cursor_position();
        assert_eq!(pos.y, 5);
        assert!(pos.x < 40);
        let buf = terminal.backend().buffer();
        let last: String = (0..40).map(|x| buf[(x, 5)].symbol().to_string()).collect();
        assert!(last.contains("hij"), "{last}");
    }

    #[test]
    fn tiny_terminal_does_not_panic() {
        let s = sample();
        for (w, h) in [(1, 1), (1, 4), (5, 4), (80, 1), (80, 3), (2, 10)] {
            screen(&s, &Input::new(), w, h);
        }
    }

    #[test]
    fn nick_colors_are_stable_and_case_blind() {
        assert_eq!(nick_color("Alice"), nick_color("alice"));
        let distinct: std::collections::HashSet<_> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|n| format!("{:?}", nick_color(n)))
            .collect();
        assert!(distinct.len() > 1);
    }
}
