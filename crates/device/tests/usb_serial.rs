//! The boards' USB serial glue (`tinystudio_device::usb_serial`) driven by a
//! simulated host over a simulated bus (`usb_sim`): enumeration and its
//! descriptors, the CDC ACM class requests, bytes both ways in order, a
//! protocol frame in 64-byte packets, and writers that never hang on a host
//! that does not listen.

mod usb_sim;

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tinystudio_deploy::frame;
use tinystudio_deploy::wire::{Poll, Receiver};
use tinystudio_device::usb_serial::{
    Delivery, GREETING_MAX, Identity, PACKET, RX_BUFFER, TX_BUFFER,
};
use usb_sim::{Rig, Setup, Stalled, rig};

const IDENTITY: Identity<'static> = Identity {
    vendor_id: 0x2341,
    product_id: 0x805a,
    manufacturer: "Arduino",
    product: "Nano 33 BLE (TinyStudio)",
    serial_number: Some("0123456789ABCDEF"),
};

const GET_DESCRIPTOR: u8 = 6;
const SET_ADDRESS: u8 = 5;
const SET_CONFIGURATION: u8 = 9;
const SET_LINE_CODING: u8 = 0x20;
const GET_LINE_CODING: u8 = 0x21;
const SET_CONTROL_LINE_STATE: u8 = 0x22;
/// The wall-clock budget of the threaded tests (they end far sooner).
const DEADLINE: Duration = Duration::from_secs(20);

fn get_descriptor(kind: u8, index: u8, length: u16) -> Setup {
    Setup {
        request_type: 0x80,
        request: GET_DESCRIPTOR,
        value: (u16::from(kind) << 8) | u16::from(index),
        index: if kind == 3 && index > 0 { 0x0409 } else { 0 },
        length,
    }
}

fn standard_out(request: u8, value: u16) -> Setup {
    Setup {
        request_type: 0x00,
        request,
        value,
        index: 0,
        length: 0,
    }
}

/// A class request to the communication interface.
fn class_out(request: u8, value: u16, interface: u8, length: u16) -> Setup {
    Setup {
        request_type: 0x21,
        request,
        value,
        index: u16::from(interface),
        length,
    }
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

/// The configuration descriptor split into its descriptors.
fn descriptors(config: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = config;
    while !rest.is_empty() {
        let len = rest[0] as usize;
        assert!(
            len >= 2 && len <= rest.len(),
            "broken descriptor in {config:?}"
        );
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// What a host learns from enumeration.
struct Enumerated {
    device: Vec<u8>,
    config: Vec<u8>,
    /// The communication interface's number, and the data interface's bulk
    /// OUT and IN endpoint numbers.
    comm_interface: u8,
    bulk_out: usize,
    bulk_in: usize,
}

/// Does what Linux does when the board is plugged in.
fn enumerate(rig: &Rig) -> Enumerated {
    rig.bus_reset();
    // Linux first asks for 64 bytes of the device descriptor at address 0.
    let device = rig
        .control_in(get_descriptor(1, 0, 64))
        .expect("device descriptor");
    rig.bus_reset();
    rig.control_out(standard_out(SET_ADDRESS, 9), &[])
        .expect("SET_ADDRESS");
    assert_eq!(
        rig.address(),
        9,
        "the address applies after the status stage"
    );
    let head = rig
        .control_in(get_descriptor(2, 0, 9))
        .expect("configuration descriptor head");
    let total = u16_at(&head, 2);
    let config = rig
        .control_in(get_descriptor(2, 0, total))
        .expect("whole configuration descriptor");
    assert_eq!(config.len(), total as usize);
    let mut comm_interface = None;
    let (mut bulk_out, mut bulk_in) = (None, None);
    for d in descriptors(&config) {
        if d[1] == 4 && d[5] == 0x02 {
            comm_interface = Some(d[2]);
        }
        if d[1] == 5 && d[3] & 3 == 2 {
            let n = (d[2] & 0x0f) as usize;
            if d[2] & 0x80 != 0 {
                bulk_in = Some(n);
            } else {
                bulk_out = Some(n);
            }
        }
    }
    rig.control_out(standard_out(SET_CONFIGURATION, 1), &[])
        .expect("SET_CONFIGURATION");
    Enumerated {
        device,
        config,
        comm_interface: comm_interface.expect("a communication interface"),
        bulk_out: bulk_out.expect("a bulk OUT endpoint"),
        bulk_in: bulk_in.expect("a bulk IN endpoint"),
    }
}

/// 115200 8N1.
const LINE_CODING: [u8; 7] = [0x00, 0xc2, 0x01, 0x00, 0, 0, 8];

/// Does what a terminal program does when it opens the port.
fn open(rig: &Rig, e: &Enumerated) {
    rig.control_out(
        class_out(SET_LINE_CODING, 0, e.comm_interface, 7),
        &LINE_CODING,
    )
    .expect("SET_LINE_CODING");
    rig.control_out(
        class_out(SET_CONTROL_LINE_STATE, 0b11, e.comm_interface, 0),
        &[],
    )
    .expect("SET_CONTROL_LINE_STATE");
}

/// Drains what the device has for the host.
fn read_all(rig: &Rig, e: &Enumerated) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        rig.interrupt();
        match rig.bulk_in(e.bulk_in) {
            Some(p) => got.extend_from_slice(&p),
            None => {
                rig.interrupt();
                if rig.bulk_in(e.bulk_in).is_none() {
                    return got;
                }
            }
        }
    }
}

fn pattern(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A clock for the writer: microseconds of wall time.
fn wall_clock() -> impl FnMut() -> u64 {
    let start = Instant::now();
    move || start.elapsed().as_micros() as u64
}

fn string(rig: &Rig, index: u8) -> String {
    let d = rig
        .control_in(get_descriptor(3, index, 255))
        .expect("string descriptor");
    assert_eq!(d[1], 3);
    let units: Vec<u16> = d[2..d[0] as usize]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).expect("UTF-16")
}

#[test]
fn enumerates_as_a_cdc_acm_serial_port_with_the_boards_ids() {
    let rig = rig!(IDENTITY);
    let e = enumerate(&rig);

    let d = &e.device;
    assert_eq!(d.len(), 18, "device descriptor {d:?}");
    assert_eq!(d[1], 1);
    assert_eq!(d[4], 0x02, "device class: communications (CDC)");
    assert_eq!(d[7], PACKET as u8, "endpoint 0 packet size");
    assert_eq!(u16_at(d, 8), 0x2341, "vendor id");
    assert_eq!(u16_at(d, 10), 0x805a, "product id");
    assert_eq!(d[17], 1, "one configuration");
    assert_eq!(string(&rig, d[14]), "Arduino");
    assert_eq!(string(&rig, d[15]), "Nano 33 BLE (TinyStudio)");
    assert_eq!(string(&rig, d[16]), "0123456789ABCDEF");
    let languages = rig
        .control_in(get_descriptor(3, 0, 255))
        .expect("languages");
    assert_eq!(languages, [4, 3, 0x09, 0x04], "English (US) only");

    let all = descriptors(&e.config);
    let config = all[0];
    assert_eq!(
        (config[1], config[4]),
        (2, 2),
        "one configuration, two interfaces"
    );
    let interfaces: Vec<&[u8]> = all.iter().copied().filter(|d| d[1] == 4).collect();
    assert_eq!(interfaces.len(), 2);
    // Communication interface: CDC, abstract control model.
    assert_eq!((interfaces[0][5], interfaces[0][6]), (0x02, 0x02));
    // Data interface: CDC data, two endpoints.
    assert_eq!((interfaces[1][5], interfaces[1][4]), (0x0a, 2));
    // Class-specific descriptors: the header first, then ACM, union (data
    // interface under the communication one) and call management.
    let functional: Vec<&[u8]> = all.iter().copied().filter(|d| d[1] == 0x24).collect();
    let mut subtypes: Vec<u8> = functional.iter().map(|d| d[2]).collect();
    assert_eq!(subtypes[0], 0x00, "header first");
    subtypes.sort();
    assert_eq!(subtypes, [0x00, 0x01, 0x02, 0x06]);
    let union = functional
        .iter()
        .find(|d| d[2] == 0x06)
        .expect("union descriptor");
    assert_eq!((union[3], union[4]), (interfaces[0][2], interfaces[1][2]));
    // Endpoints: a notification interrupt IN, then bulk OUT and IN of 64 bytes.
    let endpoints: Vec<&[u8]> = all.iter().copied().filter(|d| d[1] == 5).collect();
    assert_eq!(endpoints.len(), 3);
    assert_eq!(endpoints[0][3] & 3, 3, "interrupt endpoint");
    assert!(endpoints[0][2] & 0x80 != 0, "notifications go to the host");
    for bulk in &endpoints[1..] {
        assert_eq!(bulk[3] & 3, 2, "bulk");
        assert_eq!(u16_at(bulk, 4), PACKET as u16);
    }

    // A string the device does not have: a stall, and the next request works.
    assert_eq!(rig.control_in(get_descriptor(3, 9, 255)), Err(Stalled));
    assert_eq!(string(&rig, d[14]), "Arduino");
}

#[test]
fn the_port_is_open_while_the_host_holds_dtr() {
    let rig = rig!(IDENTITY);
    let e = enumerate(&rig);
    rig.interrupt();
    assert!(!rig.port.is_open(), "configured, DTR not raised yet");

    open(&rig, &e);
    assert!(rig.port.is_open());
    let coding = rig
        .control_in(Setup {
            request_type: 0xa1,
            request: GET_LINE_CODING,
            value: 0,
            index: u16::from(e.comm_interface),
            length: 7,
        })
        .expect("GET_LINE_CODING");
    assert_eq!(
        coding, LINE_CODING,
        "the line coding set is the one read back"
    );

    rig.control_out(
        class_out(SET_CONTROL_LINE_STATE, 0, e.comm_interface, 0),
        &[],
    )
    .expect("drop DTR");
    assert!(!rig.port.is_open(), "the host closed the port");
    open(&rig, &e);
    assert!(rig.port.is_open());

    // Unplugged and plugged in again (or the host rebooted): a bus reset.
    rig.bus_reset();
    assert!(!rig.port.is_open());
    let e = enumerate(&rig);
    open(&rig, &e);
    assert!(rig.port.is_open());
}

#[test]
fn bytes_written_by_the_firmware_arrive_on_bulk_in_in_order() {
    let rig = rig!(IDENTITY);
    let e = enumerate(&rig);
    open(&rig, &e);
    // Ten times the buffer: the writer must wait for room while the host
    // reads, in pieces of the sizes the loop writes.
    let sent = pattern(10 * TX_BUFFER + 17, 7);
    let port = rig.port;
    let writer = {
        let sent = sent.clone();
        thread::spawn(move || {
            let mut clock = wall_clock();
            let mut deliveries = Vec::new();
            for piece in sent.chunks(37) {
                deliveries.push(port.write(piece, &mut clock, 2_000_000));
            }
            deliveries
        })
    };
    let mut got = Vec::new();
    let mut packets = Vec::new();
    let start = Instant::now();
    while got.len() < sent.len() {
        assert!(
            start.elapsed() < DEADLINE,
            "only {} bytes arrived",
            got.len()
        );
        rig.interrupt();
        if let Some(p) = rig.bulk_in(e.bulk_in) {
            assert!(p.len() <= PACKET);
            got.extend_from_slice(&p);
            packets.push(p.len());
        } else {
            thread::yield_now();
        }
    }
    let deliveries = writer.join().expect("writer thread");
    assert!(
        deliveries.iter().all(|d| *d == Delivery::Queued),
        "{deliveries:?}"
    );
    assert_eq!(got, sent, "every byte, in order");
    // The host's read returns when a transfer ends with a short packet: the
    // last one, and a short one at least every eleven.
    rig.interrupt();
    if let Some(p) = rig.bulk_in(e.bulk_in) {
        assert!(p.is_empty(), "only a zero-length packet may follow");
        packets.push(0);
    }
    assert!(*packets.last().unwrap_or(&PACKET) < PACKET);
    assert!(packets.windows(11).all(|w| w.iter().any(|&n| n < PACKET)));
}

#[test]
fn a_response_of_whole_packets_ends_with_a_zero_length_packet() {
    let rig = rig!(IDENTITY);
    let e = enumerate(&rig);
    open(&rig, &e);
    let sent = pattern(3 * PACKET, 3);
    assert_eq!(
        rig.port.write(&sent, wall_clock(), 1_000_000),
        Delivery::Queued
    );
    let mut packets = Vec::new();
    for _ in 0..10 {
        rig.interrupt();
        if let Some(p) = rig.bulk_in(e.bulk_in) {
            packets.push(p);
        }
    }
    let sizes: Vec<usize> = packets.iter().map(Vec::len).collect();
    assert_eq!(sizes, [PACKET, PACKET, PACKET, 0]);
    assert_eq!(packets.concat(), sent);
}

#[test]
fn bytes_sent_by_the_host_arrive_in_order_even_when_the_buffer_fills() {
    let rig = rig!(IDENTITY);
    let e = enumerate(&rig);
    open(&rig, &e);
    let sent = pattern(4000, 11);
    let mut packets = sent.chunks(PACKET);
    let mut next = packets.next();

    // The loop is busy (an inference): the host sends until the board
    // stops taking packets.
    let mut offered = 0;
    for _ in 0..100 {
        if let Some(p) = next
            && rig.bulk_out(e.bulk_out, p)
        {
            offered += p.len();
            next = packets.next();
        }
        rig.interrupt();
    }
    assert!(
        !rig.interrupt_on(),
        "with the receive buffer full the interrupt is masked"
    );
    assert!(offered >= RX_BUFFER, "{offered} bytes offered");
    assert!(
        offered < sent.len(),
        "the board cannot take everything unread"
    );
    assert!(
        !rig.bulk_out(e.bulk_out, &[0]),
        "the endpoint holds a packet: NAK"
    );

    // The loop reads again; the port works with the interrupt masked and
    // unmasks it once there is room.
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < sent.len() {
        assert!(
            start.elapsed() < DEADLINE,
            "only {} bytes arrived",
            got.len()
        );
        if let Some(p) = next
            && rig.bulk_out(e.bulk_out, p)
        {
            next = packets.next();
        }
        rig.interrupt();
        while let Some(b) = rig.port.read_byte() {
            got.push(b);
        }
    }
    assert_eq!(got, sent, "every byte, in order");
    assert!(rig.interrupt_on(), "room again: the interrupt is back on");
    assert_eq!(rig.port.read_byte(), None);
}

#[test]
fn a_protocol_frame_in_64_byte_packets_reaches_the_frame_receiver_intact() {
    let rig = rig!(IDENTITY);
    let e = enumerate(&rig);
    open(&rig, &e);
    let pixels = pattern(96 * 96 * 3, 5);
    let wire = frame(&pixels);
    assert_eq!(wire.len(), 12 + pixels.len());
    let mut payload = vec![0u8; pixels.len()];
    let mut rx = Receiver::new(pixels.len());

    // The loop in its own thread, as on the board: byte by byte into the
    // receiver while the host sends and the interrupt runs.
    let port = rig.port;
    let board = thread::spawn(move || {
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < DEADLINE, "no frame");
            match port.read_byte() {
                Some(b) => match rx.feed(b, &mut payload) {
                    Poll::Pending => {}
                    Poll::Frame => return payload,
                    Poll::Rejected(err) => panic!("frame rejected: {err}"),
                },
                None => thread::yield_now(),
            }
        }
    });
    let mut packets = wire.chunks(PACKET);
    let mut next = packets.next();
    let start = Instant::now();
    while !board.is_finished() {
        assert!(
            start.elapsed() < DEADLINE,
            "the host could not send the frame"
        );
        if let Some(p) = next
            && rig.bulk_out(e.bulk_out, p)
        {
            next = packets.next();
        }
        rig.interrupt();
    }
    assert!(
        next.is_none(),
        "the frame was received before it was all sent"
    );
    let received = board.join().expect("board thread");
    assert_eq!(received, pixels);

    // The answer goes back the same way.
    let answer = b"Predictions (DSP: 0 ms., Classification: 805 ms., Anomaly: 0 ms.):\r\ndone\r\n";
    assert_eq!(
        rig.port.write(answer, wall_clock(), 1_000_000),
        Delivery::Queued
    );
    assert_eq!(read_all(&rig, &e), answer);
}

/// A counter that advances one tick per reading, and counts them.
fn ticking(count: &AtomicU64) -> impl FnMut() -> u64 + '_ {
    move || count.fetch_add(1, Ordering::SeqCst)
}

#[test]
fn a_host_that_never_opens_the_port_does_not_hang_the_writer() {
    let line = b"Taking photo...\r\n";
    let rig = rig!(IDENTITY);
    let ticks = AtomicU64::new(0);

    // Not plugged in (or no host driver): nothing enumerated.
    for _ in 0..100 {
        assert_eq!(
            rig.port.write(line, ticking(&ticks), 1000),
            Delivery::NoHost { queued: 0 }
        );
    }
    assert!(
        ticks.load(Ordering::SeqCst) <= 100,
        "each write returned at once"
    );

    // Enumerated and configured, but no program opened the port.
    let e = enumerate(&rig);
    ticks.store(0, Ordering::SeqCst);
    for _ in 0..100 {
        assert_eq!(
            rig.port.write(line, ticking(&ticks), 1000),
            Delivery::NoHost { queued: 0 }
        );
    }
    assert!(ticks.load(Ordering::SeqCst) <= 100);
    rig.interrupt();
    assert_eq!(rig.bulk_in(e.bulk_in), None, "nothing was queued for later");

    // Opened, then the program stops reading (a suspended terminal): the
    // writer waits out the timeout once, then drops without waiting.
    open(&rig, &e);
    let big = pattern(4 * TX_BUFFER, 1);
    ticks.store(0, Ordering::SeqCst);
    let first = rig.port.write(&big, ticking(&ticks), 1000);
    assert_eq!(
        first,
        Delivery::HostNotReading {
            queued: TX_BUFFER + PACKET
        },
        "the buffer and the endpoint's packet fill, the rest is dropped"
    );
    let waited = ticks.load(Ordering::SeqCst);
    assert!((1000..1010).contains(&waited), "waited {waited} ticks");
    ticks.store(0, Ordering::SeqCst);
    assert_eq!(
        rig.port.write(line, ticking(&ticks), 1000),
        Delivery::HostNotReading { queued: 0 }
    );
    assert!(ticks.load(Ordering::SeqCst) <= 1, "dropped at once");

    // The host reads again: it gets what was queued, and writes flow again.
    let got = read_all(&rig, &e);
    assert_eq!(got, big[..TX_BUFFER + PACKET]);
    assert_eq!(
        rig.port.write(line, ticking(&ticks), 1000),
        Delivery::Queued
    );
    assert_eq!(read_all(&rig, &e), line);
}

#[test]
fn closing_the_port_discards_what_the_host_did_not_read() {
    let rig = rig!(IDENTITY);
    let e = enumerate(&rig);
    open(&rig, &e);
    let old = pattern(TX_BUFFER, 2);
    assert_eq!(
        rig.port.write(&old, wall_clock(), 1_000_000),
        Delivery::Queued
    );
    rig.control_out(
        class_out(SET_CONTROL_LINE_STATE, 0, e.comm_interface, 0),
        &[],
    )
    .expect("drop DTR");
    assert_eq!(
        rig.port.write(b"late", wall_clock(), 1_000_000),
        Delivery::NoHost { queued: 0 }
    );
    open(&rig, &e);
    let fresh = b"fresh line\r\n";
    assert_eq!(
        rig.port.write(fresh, wall_clock(), 1_000_000),
        Delivery::Queued
    );
    let got = read_all(&rig, &e);
    // At most the one packet already handed to the endpoint is old.
    assert!(got.ends_with(fresh), "{got:?}");
    let stale = &got[..got.len() - fresh.len()];
    assert!(
        stale.len() <= PACKET && old.starts_with(stale),
        "stale: {stale:?}"
    );
}

#[test]
fn the_panic_handlers_write_gets_out_on_its_own_and_gives_up_on_a_deaf_host() {
    let rig = rig!(IDENTITY);
    // No host: returns at once.
    rig.port.emergency_write(b"panic: before USB\r\n");

    let e = enumerate(&rig);
    open(&rig, &e);
    let message = b"panic: index out of bounds\r\n";
    rig.port.emergency_write(message);
    // No interrupt ran: the write serviced the port itself.
    let mut got = Vec::new();
    while let Some(p) = rig.bulk_in(e.bulk_in) {
        got.extend_from_slice(&p);
        rig.port.emergency_write(&[]);
    }
    assert_eq!(got, message);

    // A host that never reads: bounded, then it returns.
    let start = Instant::now();
    let long = pattern(4 * TX_BUFFER, 9);
    rig.port.emergency_write(&long);
    assert!(start.elapsed() < DEADLINE);
    // What fitted (the buffer and the endpoint's packet) is there when the
    // host reads after all.
    assert_eq!(read_all(&rig, &e), long[..TX_BUFFER + PACKET]);
}

#[test]
fn every_host_that_opens_the_port_first_gets_the_boards_ready_line() {
    let rig = rig!(IDENTITY);
    let clock = || 0;
    // At reset, long before anyone listens, written in pieces as the loop's
    // formatting does.
    for piece in [
        &b"selftest: ok convolutions=400\r\n"[..],
        b"ready: tinystudio-firmware board=nano33ble",
        b" protocol=1 input=96x96x3 labels=2 arena=37632\r\n",
        b"Starting inferencing in 2 seconds...\r\n",
        b"ready: a later line that is not the boot line\r\n",
    ] {
        assert_eq!(
            rig.port.write(piece, clock, 0),
            Delivery::NoHost { queued: 0 }
        );
    }
    let ready = b"ready: tinystudio-firmware board=nano33ble protocol=1 input=96x96x3 labels=2 arena=37632\r\n";
    let e = enumerate(&rig);
    rig.interrupt();
    assert_eq!(read_all(&rig, &e), b"", "configured is not open");
    open(&rig, &e);
    assert_eq!(
        rig.port.write(b"Taking photo...\r\n", clock, 0),
        Delivery::Queued
    );
    assert_eq!(
        read_all(&rig, &e),
        [&ready[..], b"Taking photo...\r\n"].concat()
    );

    // The next program to open the port (the studio after a terminal).
    rig.control_out(
        class_out(SET_CONTROL_LINE_STATE, 0, e.comm_interface, 0),
        &[],
    )
    .expect("drop DTR");
    open(&rig, &e);
    assert_eq!(read_all(&rig, &e), ready);
}

#[test]
fn a_boot_line_too_long_to_keep_is_not_replayed() {
    let rig = rig!(IDENTITY);
    let mut long = b"ready: ".to_vec();
    long.resize(GREETING_MAX, b'x');
    long.extend_from_slice(b"\r\n");
    assert_eq!(
        rig.port.write(&long, || 0, 0),
        Delivery::NoHost { queued: 0 }
    );
    let e = enumerate(&rig);
    open(&rig, &e);
    assert_eq!(read_all(&rig, &e), b"");
}
