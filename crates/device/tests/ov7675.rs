//! The OV7675 driver against a simulated sensor (`sim/`): the register
//! set-up byte for byte against the Arduino library's, frames captured
//! exactly at QVGA and QQVGA, and clean errors for a missing sensor, another
//! chip, a stalled bus and a wrong frame size.

mod reference;
mod sim;

use sim::{Event, Options, Sim, SimBus, SimDelay, SimPort};
use tinystudio_device::camera::{Camera, Frame, PixelFormat};
use tinystudio_device::ov7675::{Config, Error, I2cSccb, Ov7675, PollLimits, Resolution, Wait};

type Driver = Ov7675<I2cSccb<SimBus>, SimPort, SimDelay>;

fn driver(sim: &Sim, config: Config) -> Driver {
    let (bus, port, delay) = sim.parts();
    Ov7675::new(I2cSccb::new(bus), port, delay, config)
}

fn config(resolution: Resolution, fps: u8) -> Config {
    Config {
        resolution,
        fps,
        ..Config::default()
    }
}

/// Writing a table as the reference does: a reset is followed by 5 ms.
fn table(events: &mut Vec<Event>, table: &[(u8, u8)]) {
    for &(r, v) in table {
        events.push(Event::Write(r, v));
        if r == 0x12 && v & 0x80 != 0 {
            events.push(Event::DelayMs(5));
        }
    }
}

/// What `Camera.begin(resolution, RGB565, fps, OV7675)` does on the bus
/// after starting XCLK, traced by hand through the reference: `delay(1000)`,
/// `ov7670_detect` (defaults, then the IDs), `ov7670_s_power` (defaults,
/// `ov7670_apply_fmt` with `ov7670_set_hw`, `ov7675_apply_framerate`) and
/// `ov7675_set_framerate`.
fn reference_begin(resolution: Resolution, fps: u8) -> Vec<Event> {
    let mut e = vec![Event::DelayMs(1000)];
    table(&mut e, reference::DEFAULT_REGS);
    e.extend([
        Event::Read(0x1c, 0x7f),
        Event::Read(0x1d, 0xa2),
        Event::Read(0x0a, 0x76),
        Event::Read(0x0b, 0x73),
    ]);
    table(&mut e, reference::DEFAULT_REGS);
    // COM7: RGB | window bit (QVGA 0x10, QQVGA uses VGA 0x00); COM10: PCLK_HB.
    let com7 = match resolution {
        Resolution::Qvga => 0x14,
        Resolution::Qqvga => 0x04,
    };
    e.extend([Event::Write(0x12, com7), Event::Write(0x15, 0x20)]);
    table(&mut e, &reference::FMT_RGB565[1..]);
    // ov7670_set_hw with ov7675_win_sizes[QVGA] = (168, 24, 12, 492) or
    // [QQVGA] = (0x16, 0x04, 0x22, 0x7a); HREF and VREF read back 0xb6 and
    // 0x0a from the defaults.
    match resolution {
        Resolution::Qvga => e.extend([
            Event::Write(0x17, 168 >> 3),
            Event::Write(0x18, 24 >> 3),
            Event::Read(0x32, 0xb6),
            Event::DelayMs(10),
            Event::Write(0x32, 0x80),
            Event::Write(0x19, 12 >> 2),
            Event::Write(0x1a, (492 >> 2) as u8),
            Event::Read(0x03, 0x0a),
            Event::DelayMs(10),
            Event::Write(0x03, 0x00),
        ]),
        Resolution::Qqvga => {
            e.extend([
                Event::Write(0x17, 0x02),
                Event::Write(0x18, 0x00),
                Event::Read(0x32, 0xb6),
                Event::DelayMs(10),
                Event::Write(0x32, 0x80 | (0x04 << 3) | 0x06),
                Event::Write(0x19, 0x08),
                Event::Write(0x1a, 0x1e),
                Event::Read(0x03, 0x0a),
                Event::DelayMs(10),
                Event::Write(0x03, (0x02 << 2) | 0x02),
            ]);
            table(&mut e, reference::OV7675_QQVGA_REGS);
        }
    }
    // clkrc = 5 * 4 * 16 / (4 * fps) - 1, capped at 0x3f: 79 -> 0x3f at 1 fps,
    // 15 at 5 fps. Before ov7675_set_framerate it is still 0.
    let clkrc = match fps {
        1 => 0x3f,
        5 => 0x0f,
        _ => unreachable!("the reference's Nano 33 BLE rates are 1 and 5"),
    };
    e.extend([
        Event::Write(0x11, 0x00),
        Event::Write(0x11, 0x00),
        Event::Write(0x6b, 0x4a),
        Event::Write(0x11, clkrc),
        Event::Write(0x6b, 0x4a),
    ]);
    e
}

#[test]
fn init_writes_the_reference_sequence() {
    for resolution in [Resolution::Qvga, Resolution::Qqvga] {
        for fps in [1, 5] {
            let sim = Sim::new(Options::default());
            let mut camera = driver(&sim, config(resolution, fps));
            camera.init().unwrap();
            let expected = reference_begin(resolution, fps);
            let log = sim.log();
            if let Some(i) =
                (0..log.len().max(expected.len())).find(|&i| log.get(i) != expected.get(i))
            {
                panic!(
                    "{resolution:?} at {fps} fps: event {i} is {:?}, the reference's is {:?}",
                    log.get(i),
                    expected.get(i)
                );
            }
            // The sensor ends up streaming RGB565 at the size asked for.
            let (w, h) = resolution.size();
            assert_eq!(sim.mode(), (w, h, true));
        }
    }
}

#[test]
fn captures_the_simulated_frame_exactly() {
    for resolution in [Resolution::Qvga, Resolution::Qqvga] {
        // Start in the middle of a frame: the driver must wait for the next.
        let sim = Sim::new(Options {
            start_tick: 123_457,
            ..Options::default()
        });
        let mut camera = driver(&sim, config(resolution, 1));
        camera.init().unwrap();
        let (w, h) = resolution.size();
        let mut buffer = vec![0u8; w * h * 2 + 5];
        let frame = camera.capture(&mut buffer).unwrap();
        assert_eq!(
            frame,
            Frame {
                width: w,
                height: h,
                format: PixelFormat::Rgb565
            }
        );
        let frames = sim.frames_read();
        assert_eq!(frames.len(), 1, "bytes of one frame only: {frames:?}");
        assert!(frames[0] >= 1, "the frame in progress is skipped");
        let expected = sim.expected_frame(frames[0]);
        assert!(
            buffer[..frame.len()] == expected[..],
            "{resolution:?}: captured bytes differ"
        );
        assert_eq!(
            &buffer[frame.len()..],
            &[0; 5],
            "nothing written past the frame"
        );

        // And the next capture gets the next frame, whole.
        let frame = camera.capture(&mut buffer).unwrap();
        let frames = sim.frames_read();
        assert_eq!(frames.len(), 2);
        assert!(buffer[..frame.len()] == sim.expected_frame(frames[1])[..]);
    }
}

#[test]
fn a_missing_sensor_fails_cleanly() {
    let sim = Sim::new(Options {
        present: false,
        ..Options::default()
    });
    let mut camera = driver(&sim, Config::default());
    assert!(matches!(
        camera.init(),
        Err(Error::Bus(embedded_hal::i2c::ErrorKind::NoAcknowledge(_)))
    ));
    let mut buffer = vec![0u8; 160 * 120 * 2];
    assert_eq!(camera.capture(&mut buffer), Err(Error::NotInitialised));
    assert!(buffer.iter().all(|&b| b == 0));
}

#[test]
fn another_chip_is_refused_before_it_is_configured() {
    let sim = Sim::new(Options {
        identity: [0x7f, 0xa2, 0x77, 0x73],
        ..Options::default()
    });
    let mut camera = driver(&sim, Config::default());
    let err = camera.init().unwrap_err();
    assert_eq!(
        err,
        Error::WrongSensor {
            register: 0x0a,
            expected: 0x76,
            found: 0x77
        }
    );
    assert!(err.to_string().contains("not an OV7675"), "{err}");
    // Nothing after the failed identity read.
    assert_eq!(sim.log().last(), Some(&Event::Read(0x0a, 0x77)));
    let mut buffer = vec![0u8; 160 * 120 * 2];
    assert_eq!(camera.capture(&mut buffer), Err(Error::NotInitialised));
}

#[test]
fn a_bus_that_stops_mid_frame_is_an_error_not_a_hang() {
    // Find where row 50 of the first frame is (the capture starts at tick
    // 0, in frame 0's VSYNC), then stop every clock 80 bytes into it.
    let probe = Sim::new(Options::default());
    let mut camera = driver(&probe, config(Resolution::Qqvga, 1));
    camera.init().unwrap();
    let halt = probe.row_start(0, 50) + 80 * 6 + 4;

    let sim = Sim::new(Options {
        halt_at: Some(halt),
        ..Options::default()
    });
    let mut camera = driver(&sim, config(Resolution::Qqvga, 1));
    camera.init().unwrap();
    let mut buffer = vec![0u8; 160 * 120 * 2];
    match camera.capture(&mut buffer) {
        Err(Error::Timeout { wait, row, byte }) => {
            assert_eq!(row, 50);
            assert!((79..=81).contains(&byte), "byte {byte}");
            assert!(matches!(wait, Wait::PixelClockLow | Wait::PixelClockHigh));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // Bounded by the pixel limit: far less than a frame of polls after the halt.
    assert!(sim.tick() - halt <= 2 * u64::from(PollLimits::default().pixel));

    // Clocks stopped before the capture starts: in the back porch (VSYNC
    // never comes), in a VSYNC pulse (it never ends), or in the back porch
    // after a VSYNC pulse (no row ever starts).
    let limits = PollLimits {
        frame: 1_000_000,
        ..PollLimits::default()
    };
    let porch = probe.row_start(0, 0) - 1;
    for (start, halt, wait) in [
        (porch, porch, Wait::FrameStart),
        (0, 0, Wait::FrameSyncEnd),
        (0, porch, Wait::LineStart),
    ] {
        let dead = Sim::new(Options {
            start_tick: start,
            halt_at: Some(halt),
            ..Options::default()
        });
        let mut camera = driver(
            &dead,
            Config {
                polls: limits,
                ..config(Resolution::Qqvga, 1)
            },
        );
        camera.init().unwrap();
        let err = camera.capture(&mut buffer).unwrap_err();
        assert_eq!(
            err,
            Error::Timeout {
                wait,
                row: 0,
                byte: 0
            }
        );
        let bound = 2 * u64::from(limits.frame) + u64::from(limits.line);
        assert!(dead.tick() - start <= bound, "{wait:?}");
    }
}

#[test]
fn a_sensor_sending_longer_rows_is_caught() {
    let sim = Sim::new(Options {
        extra_pixels: 8,
        ..Options::default()
    });
    let mut camera = driver(&sim, config(Resolution::Qqvga, 1));
    camera.init().unwrap();
    let mut buffer = vec![0u8; 160 * 120 * 2];
    assert_eq!(
        camera.capture(&mut buffer),
        Err(Error::LineTooLong { row: 0 })
    );
}

#[test]
fn bad_settings_and_buffers_touch_nothing() {
    for fps in [0, 31] {
        let sim = Sim::new(Options::default());
        let mut camera = driver(&sim, config(Resolution::Qvga, fps));
        assert!(matches!(camera.init(), Err(Error::UnsupportedConfig(_))));
        assert!(sim.log().is_empty(), "no bus traffic for fps {fps}");
    }
    let sim = Sim::new(Options::default());
    let mut camera = driver(&sim, config(Resolution::Qvga, 5));
    camera.init().unwrap();
    let ticks = sim.tick();
    let mut buffer = vec![0u8; 320 * 240 * 2 - 1];
    assert_eq!(
        camera.capture(&mut buffer),
        Err(Error::BufferTooSmall {
            needed: 153_600,
            available: 153_599
        })
    );
    assert_eq!(sim.tick(), ticks, "the port was not read");
}
