//! `printf 'hi\n' | cargo run --example cat` — copies stdin to stdout through the loop: both are
//! [`Pipe`](evloop::process::Pipe) streams over the process's own descriptors (`Loop::pipe_stdio`), with
//! backpressure (reading pauses while stdout's write queue is above its high-water mark). Exits
//! at EOF once everything is written. Stdin and stdout must be pipes, sockets or terminals (a
//! regular file cannot be polled).

#[cfg(target_os = "linux")]
use std::process::ExitCode;

#[cfg(target_os = "linux")]
use evloop::net::ReadEvent;
#[cfg(target_os = "linux")]
use evloop::process::StdStream;
#[cfg(target_os = "linux")]
use evloop::{Handle, Loop};

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cat: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(target_os = "linux")]
fn run() -> evloop::Result<()> {
    let mut lp = Loop::new()?;
    let input = lp.pipe_stdio(StdStream::Stdin)?;
    let output = lp.pipe_stdio(StdStream::Stdout)?;
    output.on_drain(&mut lp, move |lp, _| {
        // The queue drained: read again.
        let _ = input.read_start(lp, on_read(output));
    })?;
    input.read_start(&mut lp, on_read(output))?;
    lp.run()?;
    Ok(())
}

#[cfg(target_os = "linux")]
/// The read callback: write what came in, pause on backpressure, finish at EOF.
fn on_read(
    output: evloop::process::Pipe,
) -> impl FnMut(&mut Loop, evloop::process::Pipe, ReadEvent<'_>) + 'static {
    move |lp, input, ev| match ev {
        ReadEvent::Data(bytes) => match output.write(lp, bytes.to_vec(), |_, r| {
            if let Err(e) = r {
                eprintln!("cat: write: {e}");
            }
        }) {
            Ok(true) => {}
            Ok(false) => {
                let _ = input.read_stop(lp);
            }
            Err(e) => {
                eprintln!("cat: write: {e}");
                let _ = input.close(lp, |_| {});
                let _ = output.close(lp, |_| {});
            }
        },
        ReadEvent::Eof | ReadEvent::Error(_) => {
            if let ReadEvent::Error(e) = ev {
                eprintln!("cat: read: {e}");
            }
            let _ = input.close(lp, |_| {});
            // Close stdout once every queued byte is out.
            let _ = output.shutdown(lp, move |lp, _| {
                let _ = output.close(lp, |_| {});
            });
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("cat: Linux only (evloop's pipes are not ported to this platform)");
    std::process::exit(1);
}
