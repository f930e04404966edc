//! The full-screen mode's event loop: sets up and restores the terminal
//! (and its title), reads keys and the mouse on a thread, maps them to
//! input editing, buffer switching, scrolling and commands, rings the bell
//! and writes notifications and the title for what the state model flags
//! (`attention.rs` words them), and redraws after every batch of events.
//!
//! Drawing is `ui.rs`'s and state changes are `state.rs`'s; this module only
//! routes events between the terminal, the [`Session`] and the editor. It
//! must not format lines or interpret IRC.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::crossterm;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyCode, KeyEvent, KeyEventKind,
    KeyModifiers, MouseButton, MouseEventKind,
};
use tokio::sync::mpsc;

use super::attention;
use super::command::secret_from;
use super::input::Input;
use super::session::{Flow, Session, now, stop_signal};
use super::state::BufferKind;
use super::ui;

/// Lines one turn of the mouse wheel scrolls.
const WHEEL_LINES: usize = 3;

/// Puts the terminal back (raw mode off, main screen, the title it had)
/// however the loop ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
        ratatui::restore();
        // Pop the title pushed at start (xterm's title stack; terminals
        // without one ignore it).
        let _ = write_out("\u{1b}[23;0t");
    }
}

/// Writes escape sequences of our own between two draws.
fn write_out(s: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()
}

/// Rings the bell and shows notifications for what wants attention, and
/// keeps the title up to date (`title` is the one last set).
fn attend(session: &mut Session, title: &mut String) {
    let alerts = session.state.take_alerts();
    let settings = &session.state.settings;
    let mut out = String::new();
    if !alerts.is_empty() {
        if settings.bell {
            out.push_str(attention::BELL);
        }
        let osc = attention::notifications(&settings.notifications, |k| std::env::var(k).ok());
        if let Some(osc) = osc {
            for alert in &alerts {
                out.push_str(&attention::notification(alert, osc));
            }
        }
    }
    let now = attention::title(&session.state);
    if now != *title {
        out.push_str(&format!("\u{1b}]0;{now}\u{7}"));
        *title = now;
    }
    if !out.is_empty() {
        // A terminal that cannot be written to shows nothing anyway.
        let _ = write_out(&out);
    }
}

/// Reads terminal events on a plain thread (crossterm's reader blocks),
/// polling so it notices `stop` and exits.
fn spawn_event_reader(stop: Arc<AtomicBool>) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(256);
    let spawned = std::thread::Builder::new()
        .name("terminal-input".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match event::poll(Duration::from_millis(100)) {
                    Ok(false) => {}
                    Ok(true) => match event::read() {
                        Ok(ev) => {
                            if tx.blocking_send(ev).is_err() {
                                break;
                            }
                        }
                        Err(_) => break,
                    },
                    Err(_) => break,
                }
            }
        });
    drop(spawned);
    rx
}

pub async fn run(mut session: Session) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let restore = Restore;
    // Keep the title the terminal had, to put it back at the end.
    let _ = write_out("\u{1b}[22;0t");
    let mut title = String::new();
    let mut mouse = false;
    let stop_reader = Arc::new(AtomicBool::new(false));
    let mut events = spawn_event_reader(stop_reader.clone());
    let mut input = Input::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut page = 10;
    let mut view = 20;
    let mut width = 80;
    let reason = loop {
        attend(&mut session, &mut title);
        if mouse != session.state.settings.mouse {
            mouse = session.state.settings.mouse;
            let _ = if mouse {
                crossterm::execute!(std::io::stdout(), EnableMouseCapture)
            } else {
                crossterm::execute!(std::io::stdout(), DisableMouseCapture)
            };
        }
        terminal.draw(|f| {
            let area = ui::areas(&session.state, f.area()).scrollback;
            view = (area.height as usize).max(1);
            width = (area.width as usize).max(1);
            page = (view / 2).max(1);
            ui::draw(f, &session.state, &input)
        })?;
        tokio::select! {
            ev = session.next_conn_event() => match ev {
                Some(ev) => {
                    session.on_conn_event(ev, now());
                    // Apply whatever else has arrived before drawing again.
                    for _ in 0..256 {
                        match session.try_conn_event() {
                            Some(ev) => session.on_conn_event(ev, now()),
                            None => break,
                        }
                    }
                }
                None => break "connection task ended".to_string(),
            },
            ev = events.recv() => match ev {
                Some(Event::Key(key)) => {
                    match on_key(key, &mut session, &mut input, page, view) {
                        KeyOutcome::Nothing if key.code == KeyCode::PageUp => {
                            clamp_scroll(&mut session, width, view)
                        }
                        KeyOutcome::Quit(reason) => break reason,
                        KeyOutcome::Redraw => terminal.clear()?,
                        KeyOutcome::Nothing => {}
                    }
                }
                Some(Event::Paste(text)) => input.insert_str(&text),
                Some(Event::Mouse(m)) => match m.kind {
                    MouseEventKind::ScrollUp => {
                        session.scroll(true, WHEEL_LINES, view, now());
                        clamp_scroll(&mut session, width, view);
                    }
                    MouseEventKind::ScrollDown => {
                        session.scroll(false, WHEEL_LINES, view, now())
                    }
                    MouseEventKind::Down(MouseButton::Left) if m.row == 0 => {
                        let w = terminal.size().map(|s| s.width).unwrap_or(80);
                        if let Some(i) = ui::bar_hit(&session.state, w as usize, m.column as usize) {
                            session.state.switch_to(i);
                        }
                    }
                    _ => {}
                },
                Some(_) => {}
                None => break "terminal closed".to_string(),
            },
            _ = tick.tick() => session.tick(now()),
            _ = &mut stop => break "interrupted".to_string(),
        }
    };
    stop_reader.store(true, Ordering::Relaxed);
    // Give the shell back at once; the QUIT may take a moment.
    drop(restore);
    drop(terminal);
    session.quit(&reason).await;
    Ok(())
}

/// No further up than where the oldest line is at the top.
fn clamp_scroll(session: &mut Session, width: usize, view: usize) {
    let st = &mut session.state;
    let i = st.current;
    let max = ui::max_scroll(st.current_buffer(), &st.settings, width, view);
    if let Some(b) = st.buffers.get_mut(i) {
        b.scroll = b.scroll.min(max);
    }
}

enum KeyOutcome {
    Nothing,
    Redraw,
    Quit(String),
}

fn on_key(
    key: KeyEvent,
    session: &mut Session,
    input: &mut Input,
    page: usize,
    view: usize,
) -> KeyOutcome {
    if key.kind == KeyEventKind::Release {
        return KeyOutcome::Nothing;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let state = &mut session.state;
    match key.code {
        KeyCode::Enter => {
            // A line holding a password is not kept for Up to bring back.
            let line = if secret_from(&input.text()).is_some() {
                input.take()
            } else {
                input.submit()
            };
            if !line.is_empty()
                && let Flow::Quit(reason) = session.submit(&line, now())
            {
                return KeyOutcome::Quit(reason);
            }
            // Back to the newest lines after saying something.
            session.to_live(now());
        }
        KeyCode::Char('c') if ctrl => return KeyOutcome::Quit("bye".to_string()),
        KeyCode::Char('l') if ctrl => return KeyOutcome::Redraw,
        KeyCode::Char('u') if ctrl => input.kill_to_start(),
        KeyCode::Char('k') if ctrl => input.kill_to_end(),
        KeyCode::Char('w') if ctrl => input.delete_word(),
        KeyCode::Char('h') if ctrl => input.backspace(),
        KeyCode::Char('a') if ctrl => input.home(),
        KeyCode::Char('e') if ctrl => input.end(),
        KeyCode::Char('b') if ctrl => input.left(),
        KeyCode::Char('f') if ctrl => input.right(),
        KeyCode::Char('n') if ctrl => state.next_buffer(),
        KeyCode::Char('p') if ctrl => state.prev_buffer(),
        KeyCode::Char(d @ '0'..='9') if alt => {
            let n = d.to_digit(10).map_or(0, |n| n as usize);
            let n = if n == 0 { 10 } else { n };
            if n <= state.buffers.len() {
                state.switch_to(n - 1);
            }
        }
        KeyCode::Right if alt => state.next_buffer(),
        KeyCode::Left if alt => state.prev_buffer(),
        KeyCode::Char(c) if !ctrl && !alt => input.insert(c),
        KeyCode::Left => input.left(),
        KeyCode::Right => input.right(),
        KeyCode::Home => input.home(),
        KeyCode::End => input.end(),
        KeyCode::Backspace => input.backspace(),
        KeyCode::Delete => input.delete(),
        KeyCode::Up => input.history_prev(),
        KeyCode::Down => input.history_next(),
        KeyCode::PageUp => session.scroll(true, page, view, now()),
        KeyCode::PageDown => session.scroll(false, page, view, now()),
        KeyCode::Tab => {
            let b = state.current_buffer();
            let mut nicks: Vec<&str> = state
                .sorted_members(state.current)
                .into_iter()
                .map(|m| m.nick.as_str())
                .filter(|n| *n != state.nick)
                .collect();
            if b.kind == BufferKind::Query {
                nicks.push(b.name.as_str());
            }
            input.complete(&nicks);
        }
        _ => {}
    }
    KeyOutcome::Nothing
}
