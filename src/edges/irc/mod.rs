//! (in progress) IRC edge.

pub mod message;

use bytes::BytesMut;
use tokio::net::tcp::OwnedReadHalf;

use crate::config::Config;
use crate::core::Shared;
use crate::runtime::{Ctx, Renderer};

pub fn renderer(_cfg: &Config) -> IrcRenderer {
    IrcRenderer
}

pub async fn session(_ctx: Ctx, _rd: OwnedReadHalf) -> String {
    "not implemented".into()
}

pub struct IrcRenderer;

impl Renderer for IrcRenderer {
    fn render(&mut self, _event: &Shared, _out: &mut BytesMut) {}
}
