//! A port opened by path on a pseudo-terminal (what QEMU's `-serial pty`
//! gives): lines from the "board" arrive whole, frames reach it byte for
//! byte, a second opener is refused as busy, and an unplugged board ends
//! the reader with an error.

#![cfg(unix)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};
use tinystudio_deploy::{DEFAULT_BAUD, Error, frame, serial, wire};

/// A pseudo-terminal pair: the test plays the board on the master side;
/// the studio opens the slave by its path.
fn board_side() -> (TTYPort, String) {
    let (master, slave) = TTYPort::pair().expect("a pseudo-terminal");
    let path = slave.name().expect("the slave has a path");
    // The studio opens the path itself (exclusively): the pair's own slave
    // handle must not hold it.
    drop(slave);
    (master, path)
}

#[test]
fn lines_in_frames_out_over_a_pseudo_terminal() {
    let (mut board, path) = board_side();
    let (mut reader, mut writer) = serial::open(&path, DEFAULT_BAUD).expect("open the pty");
    assert_eq!(reader.path(), path);

    board
        .write_all(b"ready: tinystudio-firmware board=fake protocol=1 input=4x4x3 labels=2 arena=64\r\nTaking pho")
        .unwrap();
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lines.is_empty() && Instant::now() < deadline {
        lines = reader.poll(Duration::from_millis(200)).unwrap();
    }
    assert_eq!(
        lines,
        vec!["ready: tinystudio-firmware board=fake protocol=1 input=4x4x3 labels=2 arena=64"]
    );
    board.write_all(b"to...\r\n").unwrap();
    let mut more = Vec::new();
    while more.is_empty() && Instant::now() < deadline {
        more = reader.poll(Duration::from_millis(200)).unwrap();
    }
    assert_eq!(more, vec!["Taking photo..."]);

    // A frame with every byte value: the port is raw, nothing is translated.
    let pixels: Vec<u8> = (0..=255u8).cycle().take(4 * 4 * 3 * 6).collect();
    writer
        .write_all(&frame(&pixels), Duration::from_secs(5))
        .unwrap();
    let mut got = vec![0u8; wire::HEADER_LEN + pixels.len()];
    board.set_timeout(Duration::from_secs(5)).unwrap();
    board.read_exact(&mut got).unwrap();
    assert_eq!(&got[..4], b"TSIF");
    assert_eq!(got[wire::HEADER_LEN..], pixels[..]);
    assert_eq!(writer.transfer_time(11_520), Duration::from_secs(1));

    // Exclusive: a second opener (another program, or the studio twice) is told it is busy.
    let err = serial::open(&path, DEFAULT_BAUD).err().expect("busy");
    assert!(matches!(err, Error::PortBusy { .. }), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");

    // The board goes away: the reader says so instead of waiting forever.
    drop(board);
    let deadline = Instant::now() + Duration::from_secs(5);
    let ended = loop {
        match reader.poll(Duration::from_millis(100)) {
            Err(e) => break Some(e),
            Ok(_) if Instant::now() > deadline => break None,
            Ok(_) => {}
        }
    };
    let err = ended.expect("the reader notices the hang-up");
    assert!(matches!(err, Error::Serial { .. }), "{err}");
}

#[test]
fn listing_ports_names_each_with_a_kind() {
    let ports = serial::list_ports().expect("list ports");
    for p in &ports {
        assert!(p.path.starts_with("/dev/"), "{p:?}");
        assert!(
            ["usb", "pci", "bluetooth", "other"].contains(&p.kind),
            "{p:?}"
        );
        assert!(!p.description.is_empty());
    }
    // Pseudo-terminals are opened by path, never listed.
    let (_board, path) = board_side();
    assert!(!ports.iter().any(|p| p.path == path));
    eprintln!("ports here: {ports:?}");
}
