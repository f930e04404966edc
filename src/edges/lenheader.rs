//! (in progress) tutorial dialect edge.

use bytes::BytesMut;
use tokio::net::tcp::OwnedReadHalf;

use crate::config::Config;
use crate::core::Shared;
use crate::runtime::{Ctx, Renderer};

pub fn renderer(_cfg: &Config) -> DialectRenderer {
    DialectRenderer
}

pub async fn session(_ctx: Ctx, _rd: OwnedReadHalf) -> String {
    "not implemented".into()
}

pub struct DialectRenderer;

impl Renderer for DialectRenderer {
    fn render(&mut self, _event: &Shared, _out: &mut BytesMut) {}
}
