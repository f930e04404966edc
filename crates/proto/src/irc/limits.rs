//! The numbers both directions of the IRC edge must agree on: what the
//! session accepts from a client and what the renderer and ISUPPORT tell
//! it. Kept apart so that the reading side and the writing side share them
//! without depending on each other.
//!
//! Constants only: this module must not hold logic.

/// Targets one PRIVMSG, NOTICE, KICK or WHOIS may name (ISUPPORT TARGMAX).
pub const TARGMAX: usize = 4;

/// Most bytes of tags a client's line may carry, `@` and the space after
/// them included: IRCv3 message-tags allows a client 4094 bytes of tag
/// data, whatever the tags (client-only or not); the rest of the line has
/// its own 512. Lines the server writes may carry more, its own tags
/// coming on top.
pub const MAX_TAG_BYTES: usize = 4096;

/// Longest `label` honoured (labeled-response: 64 bytes); a longer one is
/// treated as no label.
pub const MAX_LABEL: usize = 64;
