//! The firmware's frame receiver (`crates/firmware/src/protocol.rs`, compiled
//! here as `tinystudio_deploy::wire`), fed byte by byte on the host.

use tinystudio_deploy::frame;
use tinystudio_deploy::wire::{FrameError, Poll, Receiver};

/// Feeds bytes, collecting every non-pending result; ends with a timeout if asked.
fn run(rx: &mut Receiver, bytes: &[u8], payload: &mut [u8], then_timeout: bool) -> Vec<Poll> {
    let mut out: Vec<Poll> = bytes
        .iter()
        .map(|&b| rx.feed(b, payload))
        .filter(|p| *p != Poll::Pending)
        .collect();
    if then_timeout && rx.timeout_applies() {
        out.push(rx.timeout());
    }
    out
}

#[test]
fn a_good_frame_lands_in_the_payload_buffer() {
    let pixels: Vec<u8> = (0..=255).collect();
    let mut rx = Receiver::new(256);
    let mut buf = vec![0u8; 256];
    assert!(!rx.timeout_applies(), "idle between frames: no timeout");
    assert_eq!(
        run(&mut rx, &frame(&pixels), &mut buf, false),
        [Poll::Frame]
    );
    assert_eq!(buf, pixels);
    assert!(!rx.timeout_applies());
    // Back to back.
    assert_eq!(
        run(&mut rx, &frame(&pixels), &mut buf, false),
        [Poll::Frame]
    );
}

#[test]
fn each_kind_of_damage_is_reported_once_and_the_next_frame_is_read() {
    let pixels = vec![7u8; 64];
    let good = frame(&pixels);
    let mut bad_crc = good.clone();
    bad_crc[20] ^= 1;
    let mut bad_len = frame(&pixels[..10]);
    bad_len.truncate(12 + 10);
    let cases: Vec<(Vec<u8>, bool, FrameError)> = vec![
        (
            bad_crc,
            false,
            FrameError::Checksum {
                announced: tinystudio_deploy::wire::checksum(&pixels),
                computed: tinystudio_deploy::wire::checksum(&{
                    let mut p = pixels.clone();
                    p[8] ^= 1;
                    p
                }),
            },
        ),
        (
            bad_len,
            false,
            FrameError::Length {
                announced: 10,
                expected: 64,
            },
        ),
        (
            good[..30].to_vec(),
            true,
            FrameError::Timeout {
                received: 30,
                expected: 76,
            },
        ),
        (
            good[..6].to_vec(),
            true,
            FrameError::Timeout {
                received: 6,
                expected: 76,
            },
        ),
        (b"noise".to_vec(), true, FrameError::BadMagic { skipped: 5 }),
        // A partial magic followed by silence is noise too.
        (b"TS".to_vec(), true, FrameError::BadMagic { skipped: 2 }),
    ];
    for (bytes, timeout, error) in cases {
        let mut rx = Receiver::new(64);
        let mut buf = vec![0u8; 64];
        assert_eq!(
            run(&mut rx, &bytes, &mut buf, timeout),
            [Poll::Rejected(error)],
            "{error:?}"
        );
        assert_eq!(
            run(&mut rx, &good, &mut buf, false),
            [Poll::Frame],
            "after {error:?}"
        );
    }
}

#[test]
fn noise_before_a_frame_is_reported_then_the_frame_is_read() {
    let pixels = vec![1u8; 16];
    let mut rx = Receiver::new(16);
    let mut buf = vec![0u8; 16];
    // "TT" and "TSX" exercise restarting the magic match.
    let mut bytes = b"TTSXabc".to_vec();
    bytes.extend_from_slice(&frame(&pixels));
    assert_eq!(
        run(&mut rx, &bytes, &mut buf, false),
        [
            Poll::Rejected(FrameError::BadMagic { skipped: 7 }),
            Poll::Frame
        ]
    );
}

#[test]
fn the_length_error_waits_for_the_announced_payload_to_pass() {
    // The sender's next frame must not be swallowed as the tail of the bad one.
    let mut rx = Receiver::new(8);
    let mut buf = vec![0u8; 8];
    let mut bytes = frame(&[9u8; 3]);
    bytes.extend_from_slice(&frame(&[5u8; 8]));
    assert_eq!(
        run(&mut rx, &bytes, &mut buf, false),
        [
            Poll::Rejected(FrameError::Length {
                announced: 3,
                expected: 8
            }),
            Poll::Frame
        ]
    );
    assert_eq!(buf, [5u8; 8]);
}

#[test]
fn errors_read_as_sentences() {
    let e = FrameError::Length {
        announced: 3,
        expected: 27648,
    };
    assert_eq!(
        e.to_string(),
        "wrong length: frame announces 3 payload bytes, the model takes 27648; frame discarded"
    );
}
