//! Flashable files from the linked ELF: the raw image, Intel HEX and UF2,
//! written here rather than with `objcopy` so that a rustup-only machine
//! needs no GNU binutils.

use std::fmt::Write as _;
use std::path::Path;

use object::elf;
use object::read::elf::{ElfFile32, ProgramHeader as _, SectionHeader as _};
use object::{Object, ObjectSection, ObjectSymbol};

use crate::error::{Error, Result};

/// One allocated section of the ELF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// Run-time address.
    pub address: u64,
    /// Load address (in flash for `.data`; equal to `address` otherwise).
    pub load_address: u64,
    pub size: u64,
    /// Occupies bytes in the image (false for `.bss`, `.uninit`).
    pub has_contents: bool,
}

/// What the size report and the image writers need from an ELF.
#[derive(Debug, Clone)]
pub struct ElfImage {
    /// Load segments: (physical address, bytes).
    pub segments: Vec<(u64, Vec<u8>)>,
    pub sections: Vec<Section>,
    /// Symbol name -> size, for the few symbols the report names.
    pub symbols: Vec<(String, u64, u64)>,
    pub entry: u64,
}

impl ElfImage {
    pub fn read(path: &Path) -> Result<ElfImage> {
        let data = std::fs::read(path).map_err(Error::io(format!("reading {}", path.display())))?;
        Self::parse(&data).map_err(|what| Error::Elf {
            path: path.to_owned(),
            what,
        })
    }

    pub fn parse(data: &[u8]) -> std::result::Result<ElfImage, String> {
        let file = ElfFile32::<object::Endianness>::parse(data).map_err(|e| e.to_string())?;
        let endian = file.endian();
        let mut segments = Vec::new();
        for ph in file.elf_program_headers() {
            if ph.p_type(endian) != elf::PT_LOAD || ph.p_filesz(endian) == 0 {
                continue;
            }
            let bytes = ph
                .data(endian, data)
                .map_err(|_| "a load segment lies outside the file".to_string())?;
            segments.push((u64::from(ph.p_paddr(endian)), bytes.to_vec()));
        }
        segments.sort_by_key(|s| s.0);

        let mut sections = Vec::new();
        for s in file.sections() {
            let flags = s.elf_section_header().sh_flags(endian);
            if !flags.contains(elf::SHF_ALLOC) || s.size() == 0 {
                continue;
            }
            let has_contents = s.file_range().is_some();
            // The load address is where the section's file bytes land.
            let load_address = s
                .file_range()
                .and_then(|(off, _)| {
                    file.elf_program_headers().iter().find_map(|ph| {
                        let (po, pf) = (
                            u64::from(ph.p_offset(endian)),
                            u64::from(ph.p_filesz(endian)),
                        );
                        (ph.p_type(endian) == elf::PT_LOAD && off >= po && off < po + pf)
                            .then(|| u64::from(ph.p_paddr(endian)) + (off - po))
                    })
                })
                .unwrap_or(s.address());
            sections.push(Section {
                name: s.name().unwrap_or("?").to_string(),
                address: s.address(),
                load_address,
                size: s.size(),
                has_contents,
            });
        }
        let symbols = file
            .symbols()
            .filter_map(|s| Some((s.name().ok()?.to_string(), s.address(), s.size())))
            .collect();
        Ok(ElfImage {
            segments,
            sections,
            symbols,
            entry: file.entry(),
        })
    }

    /// First and one-past-last byte address of the flash contents.
    pub fn span(&self) -> Option<(u64, u64)> {
        let start = self.segments.iter().map(|s| s.0).min()?;
        let end = self.segments.iter().map(|s| s.0 + s.1.len() as u64).max()?;
        Some((start, end))
    }

    /// The raw image from the first loaded address, gaps filled with 0xFF
    /// (erased flash), as `objcopy -O binary --gap-fill 0xff` writes it.
    pub fn to_bin(&self) -> Vec<u8> {
        let Some((start, end)) = self.span() else {
            return Vec::new();
        };
        let mut out = vec![0xFF; (end - start) as usize];
        for (addr, bytes) in &self.segments {
            let at = (addr - start) as usize;
            out[at..at + bytes.len()].copy_from_slice(bytes);
        }
        out
    }

    /// Intel HEX: 16-byte data records, extended linear address records at
    /// 64 KB boundaries, the entry point as a start linear address record.
    pub fn to_hex(&self) -> String {
        fn record(out: &mut String, kind: u8, addr: u16, data: &[u8]) {
            let mut sum = data.len() as u8;
            sum = sum.wrapping_add((addr >> 8) as u8).wrapping_add(addr as u8);
            sum = sum.wrapping_add(kind);
            let _ = write!(out, ":{:02X}{addr:04X}{kind:02X}", data.len());
            for &b in data {
                let _ = write!(out, "{b:02X}");
                sum = sum.wrapping_add(b);
            }
            let _ = writeln!(out, "{:02X}", sum.wrapping_neg());
        }
        let mut out = String::new();
        let mut upper: Option<u64> = None;
        for (addr, bytes) in &self.segments {
            let mut a = *addr;
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                if upper != Some(a >> 16) {
                    upper = Some(a >> 16);
                    record(&mut out, 4, 0, &((a >> 16) as u16).to_be_bytes());
                }
                // A record may not cross a 64 KB boundary.
                let room = (0x1_0000 - (a & 0xFFFF)) as usize;
                let n = rest.len().min(16).min(room);
                record(&mut out, 0, (a & 0xFFFF) as u16, &rest[..n]);
                a += n as u64;
                rest = &rest[n..];
            }
        }
        record(&mut out, 5, 0, &(self.entry as u32).to_be_bytes());
        record(&mut out, 1, 0, &[]);
        out
    }

    /// UF2 (<https://github.com/microsoft/uf2>): 512-byte blocks each
    /// carrying 256 bytes of flash at an address, tagged with a family ID so
    /// the boot loader rejects images for other chips.
    pub fn to_uf2(&self, family_id: u32) -> Vec<u8> {
        const PAYLOAD: u64 = 256;
        // Pages of 256 bytes that hold any loaded byte, filled from the image.
        let mut pages: std::collections::BTreeMap<u64, [u8; 256]> = Default::default();
        for (addr, bytes) in &self.segments {
            for (i, &b) in bytes.iter().enumerate() {
                let a = addr + i as u64;
                let page = pages.entry(a / PAYLOAD * PAYLOAD).or_insert([0; 256]);
                page[(a % PAYLOAD) as usize] = b;
            }
        }
        let total = pages.len() as u32;
        let mut out = Vec::with_capacity(pages.len() * 512);
        for (i, (addr, data)) in pages.iter().enumerate() {
            let words = [
                0x0A32_4655,    // magic 0 "UF2\n"
                0x9E5D_5157,    // magic 1
                0x0000_2000,    // flags: family ID present
                *addr as u32,   // target address
                PAYLOAD as u32, // payload bytes
                i as u32,       // block number
                total,          // number of blocks
                family_id,      // family ID
            ];
            for w in words {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.extend_from_slice(data);
            out.resize(out.len() + 476 - 256, 0);
            out.extend_from_slice(&0x0AB1_6F30u32.to_le_bytes()); // final magic
        }
        out
    }

    pub fn symbol_size(&self, name: &str) -> Option<u64> {
        self.symbols
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|&(_, _, size)| size)
    }
}

/// The CRC the RP2040 boot ROM expects in the last 4 bytes of boot2: CRC-32
/// with polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no reflection, no
/// final XOR (datasheet §2.8.1.3.1), over the first 252 bytes.
pub fn boot2_crc(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// UF2 family ID of the RP2040.
pub const UF2_FAMILY_RP2040: u32 = 0xE48B_FF56;

#[cfg(test)]
mod tests {
    use super::*;

    fn image(segments: Vec<(u64, Vec<u8>)>) -> ElfImage {
        ElfImage {
            segments,
            sections: vec![],
            symbols: vec![],
            entry: 0x1000_0101,
        }
    }

    #[test]
    fn bin_fills_gaps_with_erased_flash() {
        let img = image(vec![(0x100, vec![1, 2]), (0x104, vec![3])]);
        assert_eq!(img.to_bin(), vec![1, 2, 0xFF, 0xFF, 3]);
    }

    #[test]
    fn hex_records_have_valid_checksums_and_segment_addresses() {
        let img = image(vec![(0x1000_FFF8, (0..20).collect())]);
        let hex = img.to_hex();
        let lines: Vec<&str> = hex.lines().collect();
        // upper 0x1000, 8 bytes up to the boundary, upper 0x1001, 12 bytes, start, eof
        assert_eq!(lines[0], ":020000041000EA");
        assert!(lines[1].starts_with(":08FFF800"));
        assert_eq!(lines[2], ":020000041001E9");
        assert!(lines[3].starts_with(":0C000000"));
        assert_eq!(*lines.last().unwrap(), ":00000001FF");
        for l in lines {
            let bytes: Vec<u8> = (1..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect();
            assert_eq!(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0, "{l}");
        }
    }

    #[test]
    fn uf2_blocks_cover_every_byte_once() {
        let img = image(vec![(0x1000_0000, vec![7; 300])]);
        let uf2 = img.to_uf2(UF2_FAMILY_RP2040);
        assert_eq!(uf2.len(), 2 * 512);
        let word = |b: &[u8], i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        for (n, block) in uf2.chunks(512).enumerate() {
            assert_eq!(word(block, 0), 0x0A32_4655);
            assert_eq!(word(block, 3), 0x1000_0000 + 256 * n as u32);
            assert_eq!(word(block, 5), n as u32);
            assert_eq!(word(block, 6), 2);
            assert_eq!(word(block, 7), UF2_FAMILY_RP2040);
            assert_eq!(
                u32::from_le_bytes(block[508..].try_into().unwrap()),
                0x0AB1_6F30
            );
        }
        assert_eq!(&uf2[512 + 32..512 + 32 + 44], &[7; 44][..]);
        assert_eq!(uf2[512 + 32 + 44], 0);
    }
}
