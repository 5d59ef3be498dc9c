//! Sockets: UDP (this module); TCP and Unix streams live beside it.

pub(crate) mod udp;

pub use udp::{UdpBindOptions, UdpSocket};
