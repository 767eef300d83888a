//! OV7670/OV7675 registers and the set-up tables, transcribed from the
//! Arduino_OV767X library (`src/utility/ov7670.c`, commit e5dd28f of
//! github.com/arduino-libraries/Arduino_OV767X, itself derived from Linux's
//! `drivers/media/i2c/ov7670.c`, whose register names these are). The
//! values are OmniVision's, as both drivers ship them; most have no
//! documented meaning, so they are kept exactly, in the same order.

// Register addresses (Linux names).
pub const REG_GAIN: u8 = 0x00;
pub const REG_BLUE: u8 = 0x01;
pub const REG_RED: u8 = 0x02;
/// Low bits of VSTART / VSTOP.
pub const REG_VREF: u8 = 0x03;
pub const REG_COM1: u8 = 0x04;
/// Product ID, high byte.
pub const REG_PID: u8 = 0x0a;
/// Product ID, low byte.
pub const REG_VER: u8 = 0x0b;
pub const REG_COM3: u8 = 0x0c;
pub const REG_COM4: u8 = 0x0d;
pub const REG_COM5: u8 = 0x0e;
pub const REG_COM6: u8 = 0x0f;
pub const REG_AECH: u8 = 0x10;
/// Clock prescaler.
pub const REG_CLKRC: u8 = 0x11;
pub const REG_COM7: u8 = 0x12;
pub const REG_COM8: u8 = 0x13;
pub const REG_COM9: u8 = 0x14;
pub const REG_COM10: u8 = 0x15;
pub const REG_HSTART: u8 = 0x17;
pub const REG_HSTOP: u8 = 0x18;
pub const REG_VSTART: u8 = 0x19;
pub const REG_VSTOP: u8 = 0x1a;
/// Manufacturer ID, high byte.
pub const REG_MIDH: u8 = 0x1c;
/// Manufacturer ID, low byte.
pub const REG_MIDL: u8 = 0x1d;
pub const REG_MVFP: u8 = 0x1e;
pub const REG_AEW: u8 = 0x24;
pub const REG_AEB: u8 = 0x25;
pub const REG_VPT: u8 = 0x26;
/// Low bits of HSTART / HSTOP.
pub const REG_HREF: u8 = 0x32;
pub const REG_TSLB: u8 = 0x3a;
pub const REG_COM11: u8 = 0x3b;
pub const REG_COM12: u8 = 0x3c;
pub const REG_COM13: u8 = 0x3d;
pub const REG_COM14: u8 = 0x3e;
pub const REG_EDGE: u8 = 0x3f;
pub const REG_COM15: u8 = 0x40;
pub const REG_COM16: u8 = 0x41;
pub const REG_GFIX: u8 = 0x69;
/// PLL control.
pub const REG_DBLV: u8 = 0x6b;
pub const REG_SCALING_XSC: u8 = 0x70;
pub const REG_SCALING_YSC: u8 = 0x71;
pub const REG_RGB444: u8 = 0x8c;
pub const REG_HAECC1: u8 = 0x9f;
pub const REG_HAECC2: u8 = 0xa0;
pub const REG_BD50MAX: u8 = 0xa5;
pub const REG_HAECC3: u8 = 0xa6;
pub const REG_HAECC4: u8 = 0xa7;
pub const REG_HAECC5: u8 = 0xa8;
pub const REG_HAECC6: u8 = 0xa9;
pub const REG_HAECC7: u8 = 0xaa;
pub const REG_BD60MAX: u8 = 0xab;

// Bits.
pub const COM3_DCWEN: u8 = 0x04;
pub const COM7_RESET: u8 = 0x80;
pub const COM7_FMT_VGA: u8 = 0x00;
pub const COM7_FMT_QVGA: u8 = 0x10;
pub const COM7_RGB: u8 = 0x04;
pub const COM8_FASTAEC: u8 = 0x80;
pub const COM8_AECSTEP: u8 = 0x40;
pub const COM8_BFILT: u8 = 0x20;
pub const COM8_AGC: u8 = 0x04;
pub const COM8_AWB: u8 = 0x02;
pub const COM8_AEC: u8 = 0x01;
/// No PCLK pulses during horizontal blanking, so every PCLK edge while
/// HREF is high is a data byte.
pub const COM10_PCLK_HB: u8 = 0x20;
pub const COM11_HZAUTO: u8 = 0x10;
pub const COM11_EXP: u8 = 0x02;
pub const COM13_GAMMA: u8 = 0x80;
pub const COM13_UVSAT: u8 = 0x40;
pub const COM15_RGB565: u8 = 0x10;
pub const COM16_AWBGAIN: u8 = 0x08;
/// Use the external clock directly (CLKRC).
pub const CLK_EXT: u8 = 0x40;
/// Largest prescaler value (CLKRC).
pub const CLK_SCALE: u8 = 0x3f;
/// PLL x4 (DBLV).
pub const DBLV_X4: u8 = 0x4a;

/// What the manufacturer and product ID registers hold on an OV7675 (the
/// reference's `ov7670_detect`): MIDH, MIDL, PID, VER in the order read.
pub const IDENTITY: [(u8, u8); 4] = [
    (REG_MIDH, 0x7f),
    (REG_MIDL, 0xa2),
    (REG_PID, 0x76),
    (REG_VER, 0x73),
];

/// `ov7670_default_regs`: reset, then OmniVision's VGA YUV set-up, gamma,
/// AGC/AEC/AWB. The first entry resets every register.
pub const DEFAULT_REGS: &[(u8, u8)] = &[
    (REG_COM7, COM7_RESET),
    (REG_CLKRC, 0x01),
    (REG_TSLB, 0x04),
    (REG_COM7, 0x00),
    (REG_HSTART, 0x13),
    (REG_HSTOP, 0x01),
    (REG_HREF, 0xb6),
    (REG_VSTART, 0x02),
    (REG_VSTOP, 0x7a),
    (REG_VREF, 0x0a),
    (REG_COM3, 0x00),
    (REG_COM14, 0x00),
    (REG_SCALING_XSC, 0x3a),
    (REG_SCALING_YSC, 0x35),
    (0x72, 0x11),
    (0x73, 0xf0),
    (0xa2, 0x02),
    (REG_COM10, 0x00),
    (0x7a, 0x20),
    (0x7b, 0x10),
    (0x7c, 0x1e),
    (0x7d, 0x35),
    (0x7e, 0x5a),
    (0x7f, 0x69),
    (0x80, 0x76),
    (0x81, 0x80),
    (0x82, 0x88),
    (0x83, 0x8f),
    (0x84, 0x96),
    (0x85, 0xa3),
    (0x86, 0xaf),
    (0x87, 0xc4),
    (0x88, 0xd7),
    (0x89, 0xe8),
    (REG_COM8, COM8_FASTAEC | COM8_AECSTEP | COM8_BFILT),
    (REG_GAIN, 0x00),
    (REG_AECH, 0x00),
    (REG_COM4, 0x40),
    (REG_COM9, 0x18),
    (REG_BD50MAX, 0x05),
    (REG_BD60MAX, 0x07),
    (REG_AEW, 0x95),
    (REG_AEB, 0x33),
    (REG_VPT, 0xe3),
    (REG_HAECC1, 0x78),
    (REG_HAECC2, 0x68),
    (0xa1, 0x03),
    (REG_HAECC3, 0xd8),
    (REG_HAECC4, 0xd8),
    (REG_HAECC5, 0xf0),
    (REG_HAECC6, 0x90),
    (REG_HAECC7, 0x94),
    (
        REG_COM8,
        COM8_FASTAEC | COM8_AECSTEP | COM8_BFILT | COM8_AGC | COM8_AEC,
    ),
    (REG_COM5, 0x61),
    (REG_COM6, 0x4b),
    (0x16, 0x02),
    (REG_MVFP, 0x07),
    (0x21, 0x02),
    (0x22, 0x91),
    (0x29, 0x07),
    (0x33, 0x0b),
    (0x35, 0x0b),
    (0x37, 0x1d),
    (0x38, 0x71),
    (0x39, 0x2a),
    (REG_COM12, 0x78),
    (0x4d, 0x40),
    (0x4e, 0x20),
    (REG_GFIX, 0x00),
    (0x6b, 0x4a),
    (0x74, 0x10),
    (0x8d, 0x4f),
    (0x8e, 0x00),
    (0x8f, 0x00),
    (0x90, 0x00),
    (0x91, 0x00),
    (0x96, 0x00),
    (0x9a, 0x00),
    (0xb0, 0x84),
    (0xb1, 0x0c),
    (0xb2, 0x0e),
    (0xb3, 0x82),
    (0xb8, 0x0a),
    (0x43, 0x0a),
    (0x44, 0xf0),
    (0x45, 0x34),
    (0x46, 0x58),
    (0x47, 0x28),
    (0x48, 0x3a),
    (0x59, 0x88),
    (0x5a, 0x88),
    (0x5b, 0x44),
    (0x5c, 0x67),
    (0x5d, 0x49),
    (0x5e, 0x0e),
    (0x6c, 0x0a),
    (0x6d, 0x55),
    (0x6e, 0x11),
    (0x6f, 0x9f),
    (0x6a, 0x40),
    (REG_BLUE, 0x40),
    (REG_RED, 0x60),
    (
        REG_COM8,
        COM8_FASTAEC | COM8_AECSTEP | COM8_BFILT | COM8_AGC | COM8_AEC | COM8_AWB,
    ),
    (0x4f, 0x80),
    (0x50, 0x80),
    (0x51, 0x00),
    (0x52, 0x22),
    (0x53, 0x5e),
    (0x54, 0x80),
    (0x58, 0x9e),
    (REG_COM16, COM16_AWBGAIN),
    (REG_EDGE, 0x00),
    (0x75, 0x05),
    (0x76, 0xe1),
    (0x4c, 0x00),
    (0x77, 0x01),
    (REG_COM13, 0xc3),
    (0x4b, 0x09),
    (0xc9, 0x60),
    (REG_COM16, 0x38),
    (0x56, 0x40),
    (0x34, 0x11),
    (REG_COM11, COM11_EXP | COM11_HZAUTO),
    (0xa4, 0x88),
    (0x96, 0x00),
    (0x97, 0x30),
    (0x98, 0x20),
    (0x99, 0x30),
    (0x9a, 0x84),
    (0x9b, 0x29),
    (0x9c, 0x03),
    (0x9d, 0x4c),
    (0x9e, 0x3f),
    (0x78, 0x04),
    (0x79, 0x01),
    (0xc8, 0xf0),
    (0x79, 0x0f),
    (0xc8, 0x00),
    (0x79, 0x10),
    (0xc8, 0x7e),
    (0x79, 0x0a),
    (0xc8, 0x80),
    (0x79, 0x0b),
    (0xc8, 0x01),
    (0x79, 0x0c),
    (0xc8, 0x0f),
    (0x79, 0x0d),
    (0xc8, 0x20),
    (0x79, 0x09),
    (0xc8, 0x80),
    (0x79, 0x02),
    (0xc8, 0xc0),
    (0x79, 0x03),
    (0xc8, 0x40),
    (0x79, 0x05),
    (0xc8, 0x30),
    (0x79, 0x26),
];

/// `ov7670_fmt_rgb565`: the output format. Its first entry (COM7) is not
/// written as such: COM7 also selects the window size, so the reference
/// writes it combined with the window's bit (`ov7670_apply_fmt`).
pub const FMT_RGB565: &[(u8, u8)] = &[
    (REG_COM7, COM7_RGB),
    (REG_RGB444, 0x00),
    (REG_COM1, 0x00),
    (REG_COM15, COM15_RGB565),
    (REG_COM9, 0x38),
    (0x4f, 0xb3),
    (0x50, 0xb3),
    (0x51, 0x00),
    (0x52, 0x3d),
    (0x53, 0xa7),
    (0x54, 0xe4),
    (REG_COM13, COM13_GAMMA | COM13_UVSAT),
];

/// `ov7675_qqvga_regs`: QQVGA on the OV7675 is VGA downsampled by 4 and
/// cropped, with VSTART raised to centre the window on this sensor.
pub const OV7675_QQVGA_REGS: &[(u8, u8)] = &[
    (REG_COM3, COM3_DCWEN),
    (REG_COM14, 0x1a),
    (0x72, 0x22),
    (0x73, 0xf2),
    (REG_HSTART, 0x16),
    (REG_HSTOP, 0x04),
    (REG_HREF, 0xa4),
    (REG_VSTART, 0x22),
    (REG_VSTOP, 0x7a),
    (REG_VREF, 0x0a),
];

/// One entry of `ov7675_win_sizes`: the window the sensor reads out.
pub struct Window {
    pub com7: u8,
    pub hstart: u16,
    pub hstop: u16,
    pub vstart: u16,
    pub vstop: u16,
    pub regs: &'static [(u8, u8)],
}

/// `ov7675_win_sizes[QVGA]`.
pub const QVGA: Window = Window {
    com7: COM7_FMT_QVGA,
    hstart: 168,
    hstop: 24,
    vstart: 12,
    vstop: 492,
    regs: &[],
};

/// `ov7675_win_sizes[QQVGA]`.
pub const QQVGA: Window = Window {
    com7: COM7_FMT_VGA,
    hstart: 0x16,
    hstop: 0x04,
    vstart: 0x22,
    vstop: 0x7a,
    regs: OV7675_QQVGA_REGS,
};
