//! Sockets: UDP (this module); TCP and Unix streams live beside it.

pub(crate) mod udp;
mod udp_send;

pub use udp::{UdpBindOptions, UdpSocket};
