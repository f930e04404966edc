//! How the time of a stored line is shown to people: `HH:MM` when it is
//! from today, with the date (`YYYY-MM-DD HH:MM`) when older, so that an
//! old line replayed on join can never pass for one said just now. Local
//! time of the server, as live lines use.
//!
//! Must not know any protocol; each edge puts the stamp where its users
//! look for it.

use std::time::SystemTime;

/// The stamp for a stored line's time.
pub fn stamp(t: SystemTime) -> String {
    let local: chrono::DateTime<chrono::Local> = t.into();
    if local.date_naive() == chrono::Local::now().date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn today_is_a_clock_older_days_carry_the_date() {
        assert_eq!(stamp(SystemTime::now()).len(), 5);
        let old = stamp(SystemTime::now() - Duration::from_secs(3 * 86_400));
        assert_eq!(old.len(), 16, "{old}");
        assert_eq!(&old[4..5], "-");
    }
}
