//! `cargo run --example chat -- --addr 127.0.0.1:7001 [--idle SECS]` — a TCP chat server:
//! each line a client sends goes to all the others, `/nick NAME` renames, a client silent for
//! `--idle` seconds (default 60) is cut, and SIGINT says goodbye to everyone and exits 0.
//! The clients live in the loop's state (`lp.state`), so every callback reaches them through
//! the `&mut Loop` it gets; a message is one shared buffer, however many peers it goes to.

use std::{collections::HashMap, time::Duration};

use evloop::net::{ReadEvent, TcpListener, TcpStream, WriteBuf};
use evloop::{Handle, Loop, signal::SIGINT};

/// Connected clients and their nicknames.
type Clients = HashMap<TcpStream, String>;

fn peers(lp: &mut Loop) -> Vec<TcpStream> {
    lp.state::<Clients>()
        .map_or(vec![], |c| c.keys().copied().collect())
}

fn broadcast(lp: &mut Loop, from: Option<TcpStream>, text: String) {
    let buf = WriteBuf::shared(text);
    for peer in peers(lp).into_iter().filter(|p| Some(*p) != from) {
        let _ = peer.write(lp, &buf, |_, _| {});
    }
}

fn leave(lp: &mut Loop, client: TcpStream, bye: &'static str) {
    if let Some(nick) = lp.state::<Clients>().and_then(|c| c.remove(&client)) {
        let _ = client.end(lp, bye, |_, _| {});
        broadcast(lp, None, format!("* {nick} left\n"));
    }
}

fn on_line(lp: &mut Loop, client: TcpStream, line: &str) {
    let nick = lp.state::<Clients>().and_then(|c| c.get_mut(&client));
    let Some(nick) = nick else { return };
    let text = match line.strip_prefix("/nick ") {
        Some(new) => format!("* {} is now {new}\n", std::mem::replace(nick, new.into())),
        None => format!("{nick}: {line}\n"),
    };
    broadcast(lp, Some(client), text);
}

/// The value after `name` on the command line, or `default`.
fn arg(name: &str, default: &str) -> String {
    let mut args = std::env::args().skip_while(|a| a != name);
    args.nth(1).unwrap_or_else(|| default.into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = arg("--addr", "127.0.0.1:7001");
    let idle = Duration::from_secs(arg("--idle", "60").parse()?);
    let mut lp = Loop::new()?;
    lp.insert_state(Clients::new());
    let server = TcpListener::bind(&mut lp, &addr, move |lp, _, conn| {
        let Ok(client) = conn else { return };
        let nick = format!("guest{}", client.peer_addr(lp).map_or(0, |a| a.port()));
        lp.state::<Clients>().map(|c| c.insert(client, nick));
        let _ = client.set_idle_timeout(lp, idle, |lp, c| leave(lp, c, "* idle, bye\n"));
        let _ = client.read_start(lp, |lp, client, ev| match ev {
            ReadEvent::Data(bytes) => String::from_utf8_lossy(bytes)
                .lines()
                .for_each(|l| on_line(lp, client, l)),
            ReadEvent::Eof | ReadEvent::Error(_) => leave(lp, client, ""),
        });
    })?;
    println!("chat: listening on {}", server.local_addr(&lp)?);
    lp.signal(SIGINT, move |lp, sig, _| {
        for client in peers(lp) {
            let _ = client.end(lp, "* server shutting down, goodbye\n", |_, _| {});
        }
        let _ = (server.close(lp, |_| {}), sig.close(lp, |_| {}));
    })?;
    Ok(lp.run()?)
}
