//! Libraries for people who write their own firmware: the engine as a
//! precompiled static library with a C header (`crates/clib`), packaged with
//! a model as
//!
//! - an **Arduino library** (a zip for "Add .ZIP Library": `library.properties`
//!   with `precompiled=true`, the static libraries where the Arduino builder
//!   looks for them, `src/{build.mcu}/{fpu}-{float-abi}/`, the header, the
//!   model, an example sketch),
//! - a **C library** (header, static libraries per core, the model as a C
//!   array and as a `.tsmb` blob, an example with a Makefile that runs it
//!   on the emulated Cortex-M4),
//! - a **Rust crate** with the blob and its labels, for firmware that uses
//!   the engine crate itself (no static library).
//!
//! The static libraries do not depend on the model: [`build_static_libraries`]
//! builds them once per target directory and engine version (cargo's own
//! caching; a rebuild with nothing changed takes a second), and [`package`]
//! puts any model beside them.

use std::fmt::Write as _;
use std::io::{Cursor, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tinystudio_domain::impulse::ResizeMode;
use tinystudio_engine::ModelView;
use tinystudio_engine::preprocess::{ColorDepth, InputFormat, Scratch};

use crate::Config;
use crate::build::{lock_target_dir, run_cargo};
use crate::error::{Error, Result};
use crate::toolchain;

/// What a library download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LibraryKind {
    Arduino,
    C,
    Rust,
}

impl LibraryKind {
    pub const ALL: [LibraryKind; 3] = [LibraryKind::Arduino, LibraryKind::C, LibraryKind::Rust];

    /// The name in the API and in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            LibraryKind::Arduino => "arduino",
            LibraryKind::C => "c",
            LibraryKind::Rust => "rust",
        }
    }

    pub fn parse(name: &str) -> Option<LibraryKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub fn title(self) -> &'static str {
        match self {
            LibraryKind::Arduino => "Arduino library",
            LibraryKind::C => "C library",
            LibraryKind::Rust => "Rust crate",
        }
    }

    /// One line for the Deploy page.
    pub fn description(self) -> &'static str {
        match self {
            LibraryKind::Arduino => {
                "a zip for the Arduino IDE's \"Add .ZIP Library\": the engine precompiled for \
                 Cortex-M4F (Nano 33 BLE) and Cortex-M0+ (Nano RP2040, Zero), the model and an \
                 example sketch that prints predictions"
            }
            LibraryKind::C => {
                "tinystudio.h, static libraries for Cortex-M4F and Cortex-M0+, the model as a C \
                 array and as a blob, an example with a Makefile"
            }
            LibraryKind::Rust => {
                "a no_std crate with the model blob and its labels, for firmware that uses the \
                 tinystudio-engine crate"
            }
        }
    }

    /// Whether packaging needs [`build_static_libraries`] first.
    pub fn needs_static_libraries(self) -> bool {
        !matches!(self, LibraryKind::Rust)
    }
}

/// One build of the C library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibraryTarget {
    /// Rust's target triple.
    pub triple: &'static str,
    /// Where the C library zip puts it (`lib/<dir>/libtinystudio.a`).
    pub c_dir: &'static str,
    /// Where an Arduino library's precompiled archive must be for the
    /// builder to find it: `src/{build.mcu}` and, when the core's compiler
    /// flags name an FPU and a float ABI, `/{fpu}-{float-abi}` (the
    /// Arduino library specification).
    pub arduino_dir: &'static str,
    /// The GCC flags a C program linking it uses.
    pub gcc_flags: &'static [&'static str],
}

/// The C library's builds: Cortex-M4F with the hard-float ABI (the engine's
/// Cortex-M4 kernels; most Cortex-M4F SDKs), the same code with the
/// soft-float calling convention (Arduino's nRF52840 core, the Nano 33 BLE,
/// compiles with `-mfloat-abi=softfp`, which links only with soft-float-ABI
/// objects), and Cortex-M0+ with the portable kernels.
pub static LIBRARY_TARGETS: &[LibraryTarget] = &[
    LibraryTarget {
        triple: "thumbv7em-none-eabihf",
        c_dir: "cortex-m4",
        arduino_dir: "cortex-m4/fpv4-sp-d16-hard",
        gcc_flags: &[
            "-mcpu=cortex-m4",
            "-mthumb",
            "-mfloat-abi=hard",
            "-mfpu=fpv4-sp-d16",
        ],
    },
    LibraryTarget {
        triple: "thumbv7em-none-eabi",
        c_dir: "cortex-m4-softfp",
        arduino_dir: "cortex-m4/fpv4-sp-d16-softfp",
        gcc_flags: &[
            "-mcpu=cortex-m4",
            "-mthumb",
            "-mfloat-abi=softfp",
            "-mfpu=fpv4-sp-d16",
        ],
    },
    LibraryTarget {
        triple: "thumbv6m-none-eabi",
        c_dir: "cortex-m0plus",
        arduino_dir: "cortex-m0plus",
        gcc_flags: &["-mcpu=cortex-m0plus", "-mthumb"],
    },
];

/// The static library's file name (`-ltinystudio`).
pub const STATIC_LIBRARY: &str = "libtinystudio.a";

/// The built static libraries, one per [`LIBRARY_TARGETS`] entry.
#[derive(Debug, Clone)]
pub struct StaticLibraries {
    pub libraries: Vec<(&'static LibraryTarget, PathBuf)>,
    /// Which toolchain route built them.
    pub toolchain: String,
    pub duration: Duration,
}

impl StaticLibraries {
    pub fn path(&self, triple: &str) -> Option<&Path> {
        self.libraries
            .iter()
            .find(|(t, _)| t.triple == triple)
            .map(|(_, p)| p.as_path())
    }
}

/// Builds `crates/clib` (`Config::clib_dir`) for every [`LIBRARY_TARGETS`]
/// entry in `target_dir`, with the firmware's toolchain route, one cargo at
/// a time per target directory (the firmware builds' lock).
pub fn build_static_libraries(
    config: &Config,
    target_dir: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<StaticLibraries> {
    let started = Instant::now();
    let manifest = config.clib_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(Error::LibrarySourceMissing(config.clib_dir.clone()));
    }
    let lock = lock_target_dir(target_dir)?;
    let mut libraries = Vec::new();
    let mut described = String::new();
    for target in LIBRARY_TARGETS {
        let toolchain = toolchain::detect_target(target.triple)?;
        described = toolchain.describe();
        log(&format!(
            "building the C library for {} with {described}",
            target.triple
        ));
        let mut cmd = toolchain.cargo_command(target.triple);
        cmd.current_dir(&config.clib_dir)
            .arg("--release")
            .arg("--manifest-path")
            .arg(&manifest)
            .args(["--target", target.triple])
            .arg("--target-dir")
            .arg(target_dir);
        run_cargo(&mut cmd, log)?;
        let path = target_dir
            .join(target.triple)
            .join("release")
            .join(STATIC_LIBRARY);
        if !path.is_file() {
            return Err(Error::BuildFailed {
                status: "cargo succeeded".into(),
                tail: format!("but wrote no {}", path.display()),
            });
        }
        libraries.push((target, path));
    }
    drop(lock);
    Ok(StaticLibraries {
        libraries,
        toolchain: described,
        duration: started.elapsed(),
    })
}

/// The model a library carries.
#[derive(Debug, Clone, Copy)]
pub struct LibraryModel<'a> {
    /// Shown in the library's name and documentation (a project's name).
    pub title: &'a str,
    /// Makes the name unique and tells versions apart (a model's version).
    pub version: u32,
    /// The engine's blob, with labels; with a pixel scaling when it takes
    /// pictures (without one it takes raw int8 tensors).
    pub blob: &'a [u8],
    /// The impulse's resize mode (for pictures of any size).
    pub resize_mode: ResizeMode,
}

/// A zip ready to download.
#[derive(Debug, Clone)]
pub struct Package {
    /// `<name>_v<version>-arduino.zip`, `...-c.zip`, `...-rust.zip`.
    pub file_name: String,
    /// The zip's single top folder (the library's or crate's name).
    pub folder: String,
    /// Every file, relative to the folder, in the zip's order.
    pub files: Vec<String>,
    pub bytes: Vec<u8>,
}

/// What the packages need to know about the model.
struct ModelFacts {
    /// `[a-z0-9_]`, starting with a letter.
    ident: String,
    input: (usize, usize, usize),
    classes: usize,
    labels: Vec<String>,
    arena: usize,
    /// Pictures through a pixel scaling, or raw int8 tensors (audio
    /// features, sensor data: models imported as raw tensors).
    takes_pixels: bool,
}

fn facts(model: &LibraryModel<'_>) -> Result<ModelFacts> {
    let view = ModelView::parse(model.blob)?;
    let input = view.input()?.shape4();
    let classes = view.output()?.len;
    let labels = (0..classes)
        .map(|i| {
            view.label(i)
                .map_or_else(|| format!("class{i}"), str::to_owned)
        })
        .collect();
    Ok(ModelFacts {
        ident: format!("{}_v{}", identifier(model.title), model.version),
        input: (input.h, input.w, input.c),
        classes,
        labels,
        arena: view.arena_size(),
        takes_pixels: view.pixel_scaling().is_some(),
    })
}

/// A C, Rust and Arduino-safe name: lower case letters, digits and `_`.
fn identifier(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').chars().take(40).collect::<String>();
    match out.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => out,
        Some(_) => format!("model_{out}"),
        None => "model".into(),
    }
}

fn resize_constant(mode: ResizeMode) -> &'static str {
    match mode {
        ResizeMode::Squash => "TS_RESIZE_SQUASH",
        ResizeMode::FitShortest => "TS_RESIZE_FIT_SHORTEST",
        ResizeMode::FitLongest => "TS_RESIZE_FIT_LONGEST",
    }
}

/// A C string literal: printable ASCII as is, everything else (and `"`,
/// `\`, `?`) as three-digit octal escapes, which never run into the next
/// character as hex escapes can.
fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for &b in s.as_bytes() {
        if (b.is_ascii_graphic() || b == b' ') && !matches!(b, b'"' | b'\\' | b'?') {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\{b:03o}");
        }
    }
    out.push('"');
    out
}

/// The header the library's C source and its users include.
fn model_header(m: &ModelFacts, model: &LibraryModel<'_>, header: &str) -> String {
    let guard = header.to_ascii_uppercase().replace('.', "_");
    let (h, w, c) = m.input;
    format!(
        "/* {title}, version {version}: a TinyStudio model for tinystudio.h (generated).\n \
         * Input {h}x{w}x{c}, {classes} classes, {arena} bytes of tensor arena. */\n\
         #ifndef {guard}\n#define {guard}\n\n#include <stddef.h>\n#include <stdint.h>\n\n\
         #include \"tinystudio.h\"\n\n\
         #define TS_MODEL_INPUT_HEIGHT {h}\n#define TS_MODEL_INPUT_WIDTH {w}\n\
         #define TS_MODEL_INPUT_CHANNELS {c}\n#define TS_MODEL_CLASS_COUNT {classes}\n\
         /* 1: the input is a picture (ts_set_input_pixels, ts_set_input_image);\n \
         * 0: raw int8 tensors (ts_set_input_int8), such as audio features. */\n\
         #define TS_MODEL_TAKES_PIXELS {pixels}\n\
         /* Bytes of tensor arena ts_init needs (ts_arena_size of the blob). */\n\
         #define TS_MODEL_ARENA_SIZE {arena}\n\
         /* How the studio fitted pictures to the input (for ts_set_input_image). */\n\
         #define TS_MODEL_RESIZE_MODE {resize}\n\n\
         #ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n\
         /* The model blob (model.tsmb), 8-byte aligned. */\n\
         extern const uint8_t ts_model_blob[];\nextern const size_t ts_model_blob_len;\n\
         /* One label per output, in output order. */\n\
         extern const char *const ts_model_labels[TS_MODEL_CLASS_COUNT];\n\n\
         #ifdef __cplusplus\n}}\n#endif\n\n#endif /* {guard} */\n",
        title = model.title.replace("*/", "* /"),
        version = model.version,
        classes = m.classes,
        arena = m.arena,
        resize = resize_constant(model.resize_mode),
        pixels = u8::from(m.takes_pixels),
    )
}

/// The model as a C array (`ts_model_blob`) and its labels.
fn model_source(m: &ModelFacts, model: &LibraryModel<'_>, header: &str) -> String {
    let mut out = format!(
        "/* The model blob and labels of {header} (generated). */\n#include \"{header}\"\n\n\
         __attribute__((aligned(8))) const uint8_t ts_model_blob[{len}] = {{\n",
        len = model.blob.len()
    );
    for chunk in model.blob.chunks(16) {
        out.push_str("   ");
        for b in chunk {
            let _ = write!(out, " 0x{b:02x},");
        }
        out.push('\n');
    }
    out.push_str("};\nconst size_t ts_model_blob_len = sizeof ts_model_blob;\n\n");
    out.push_str("const char *const ts_model_labels[TS_MODEL_CLASS_COUNT] = {\n");
    for label in &m.labels {
        let _ = writeln!(out, "    {},", c_string(label));
    }
    out.push_str("};\n");
    out
}

/// One picture for the C example (`input_data.c`).
#[derive(Debug, Clone)]
pub struct ExampleImage {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// 3 (RGB888) or 1 (grayscale).
    pub channels: u32,
    pub pixels: Vec<u8>,
}

/// `input_data.h` and `input_data.c` of the C example: `images` as C
/// arrays, and the scratch the largest needs for `ts_set_input_image`
/// (what the library's `ts_scratch_size` computes).
pub fn example_inputs(blob: &[u8], images: &[ExampleImage]) -> Result<(String, String)> {
    let view = ModelView::parse(blob)?;
    let shape = view.input()?.shape4();
    let color_depth = if shape.c == 1 {
        ColorDepth::Grayscale
    } else {
        ColorDepth::Rgb
    };
    let modes = [
        tinystudio_engine::ResizeMode::Squash,
        tinystudio_engine::ResizeMode::FitShortest,
        tinystudio_engine::ResizeMode::FitLongest,
    ];
    let scratch = images
        .iter()
        .flat_map(|i| modes.map(|mode| (i, mode)))
        .map(|(i, resize_mode)| {
            let format = InputFormat {
                width: shape.w,
                height: shape.h,
                resize_mode,
                color_depth,
            };
            let (w, h) = (i.width as usize, i.height as usize);
            Scratch::bytes(w, format.width, Scratch::rows_to_keep(w, h, &format)) + 16
        })
        .max()
        .unwrap_or(0)
        .max(16);
    let header = format!(
        "/* The pictures the example classifies (generated). */\n\
         #ifndef INPUT_DATA_H\n#define INPUT_DATA_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n\
         typedef struct example_image {{\n    const char *name;\n    const uint8_t *pixels;\n    \
         uint32_t width, height, channels; /* channels: 3 RGB888, 1 grayscale */\n}} example_image;\n\n\
         extern const example_image example_images[];\nextern const size_t example_image_count;\n\n\
         /* Scratch for ts_set_input_image on the largest picture. */\n\
         #define EXAMPLE_SCRATCH_BYTES {scratch}\n\n#endif\n"
    );
    let mut source = String::from("#include \"input_data.h\"\n\n");
    for (n, image) in images.iter().enumerate() {
        let _ = writeln!(
            source,
            "static const uint8_t image{n}[{}] = {{",
            image.pixels.len()
        );
        for chunk in image.pixels.chunks(24) {
            source.push_str("   ");
            for b in chunk {
                let _ = write!(source, " {b},");
            }
            source.push('\n');
        }
        source.push_str("};\n");
    }
    source.push_str("\nconst example_image example_images[] = {\n");
    for (n, image) in images.iter().enumerate() {
        let _ = writeln!(
            source,
            "    {{{}, image{n}, {}, {}, {}}},",
            c_string(&image.name),
            image.width,
            image.height,
            image.channels
        );
    }
    let _ = write!(
        source,
        "}};\nconst size_t example_image_count = {};\n",
        images.len()
    );
    Ok((header, source))
}

/// The input a library's example classifies out of the box: a mid-grey
/// picture at the model's input size (replace it with a camera's frame),
/// or for a model of raw tensors a tensor of zeros, each byte an int8.
fn example_input(m: &ModelFacts) -> ExampleImage {
    let (h, w, c) = m.input;
    let (name, byte) = if m.takes_pixels {
        ("grey", 128)
    } else {
        ("zeros", 0)
    };
    ExampleImage {
        name: name.into(),
        width: w as u32,
        height: h as u32,
        channels: c as u32,
        pixels: vec![byte; h * w * c],
    }
}

const HEADER: &str = include_str!("../../clib/include/tinystudio.h");
const C_MAIN: &str = include_str!("../../clib/examples/c/main.c");
const C_STARTUP: &str = include_str!("../../clib/examples/c/startup.c");
const C_LINKER_SCRIPT: &str = include_str!("../../clib/examples/c/mps2-an386.ld");
const C_MAKEFILE: &str = include_str!("../../clib/examples/c/Makefile");
const ARDUINO_SKETCH: &str = include_str!("../../clib/examples/arduino/classify.ino");

/// The files of a zip, in order: (path inside the top folder, contents).
type Files = Vec<(String, Vec<u8>)>;

/// Packages `model` as a `kind` library; `libraries` is needed for the
/// Arduino and C kinds ([`LibraryKind::needs_static_libraries`]).
pub fn package(
    kind: LibraryKind,
    model: &LibraryModel<'_>,
    libraries: Option<&StaticLibraries>,
) -> Result<Package> {
    let m = facts(model)?;
    let static_library = |target: &LibraryTarget| -> Result<Vec<u8>> {
        let path = libraries
            .and_then(|l| l.path(target.triple))
            .ok_or_else(|| {
                Error::LibrarySourceMissing(PathBuf::from(format!(
                    "(no static library built for {})",
                    target.triple
                )))
            })?;
        std::fs::read(path).map_err(Error::io(format!("reading {}", path.display())))
    };
    let (folder, files) = match kind {
        LibraryKind::C => {
            let folder = format!("{}_c", m.ident);
            let mut files: Files = vec![
                ("README.md".into(), c_readme(&m, model).into_bytes()),
                ("include/tinystudio.h".into(), HEADER.into()),
            ];
            for target in LIBRARY_TARGETS {
                files.push((
                    format!("lib/{}/{STATIC_LIBRARY}", target.c_dir),
                    static_library(target)?,
                ));
            }
            let (input_h, input_c) = example_inputs(model.blob, &[example_input(&m)])?;
            files.extend([
                (
                    "model/model_data.h".into(),
                    model_header(&m, model, "model_data.h").into_bytes(),
                ),
                (
                    "model/model_data.c".into(),
                    model_source(&m, model, "model_data.h").into_bytes(),
                ),
                ("model/model.tsmb".into(), model.blob.to_vec()),
                ("examples/main.c".into(), C_MAIN.into()),
                ("examples/input_data.h".into(), input_h.into_bytes()),
                ("examples/input_data.c".into(), input_c.into_bytes()),
                ("examples/startup.c".into(), C_STARTUP.into()),
                ("examples/mps2-an386.ld".into(), C_LINKER_SCRIPT.into()),
                ("examples/Makefile".into(), C_MAKEFILE.into()),
            ]);
            (folder, files)
        }
        LibraryKind::Arduino => {
            let folder = format!("TinyStudio_{}", m.ident);
            let mut files: Files = vec![
                (
                    "library.properties".into(),
                    library_properties(&m, model).into_bytes(),
                ),
                ("README.md".into(), arduino_readme(&m, model).into_bytes()),
                ("src/tinystudio.h".into(), HEADER.into()),
                (
                    "src/tinystudio_model.h".into(),
                    model_header(&m, model, "tinystudio_model.h").into_bytes(),
                ),
                (
                    "src/tinystudio_model.c".into(),
                    model_source(&m, model, "tinystudio_model.h").into_bytes(),
                ),
            ];
            for target in LIBRARY_TARGETS {
                files.push((
                    format!("src/{}/{STATIC_LIBRARY}", target.arduino_dir),
                    static_library(target)?,
                ));
            }
            files.push((
                "examples/classify/classify.ino".into(),
                ARDUINO_SKETCH.into(),
            ));
            (folder, files)
        }
        LibraryKind::Rust => {
            let folder = m.ident.clone();
            let files: Files = vec![
                ("Cargo.toml".into(), rust_manifest(&m, model).into_bytes()),
                ("README.md".into(), rust_readme(&m, model).into_bytes()),
                ("src/lib.rs".into(), rust_lib(&m, model).into_bytes()),
                ("src/model.tsmb".into(), model.blob.to_vec()),
            ];
            (folder, files)
        }
    };
    let bytes = zip(&folder, &files)?;
    Ok(Package {
        file_name: format!("{}-{}.zip", m.ident, kind.as_str()),
        files: files.into_iter().map(|(p, _)| p).collect(),
        folder,
        bytes,
    })
}

fn zip(folder: &str, files: &Files) -> Result<Vec<u8>> {
    use zip::write::FileOptions;
    let io = |e: zip::result::ZipError| Error::Io {
        context: "writing the zip".into(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = FileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for (path, contents) in files {
        writer
            .start_file(format!("{folder}/{path}"), options)
            .map_err(io)?;
        writer
            .write_all(contents)
            .map_err(Error::io("writing the zip".to_string()))?;
    }
    Ok(writer.finish().map_err(io)?.into_inner())
}

fn library_properties(m: &ModelFacts, model: &LibraryModel<'_>) -> String {
    // One line per field: a newline in the title would start another field.
    let title: String = model
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let (h, w, c) = m.input;
    format!(
        "name=TinyStudio {ident}\n\
         version=1.0.{version}\n\
         author=TinyStudio\n\
         maintainer=TinyStudio\n\
         sentence=The {title} image classifier (model version {version}), with TinyStudio's int8 engine precompiled.\n\
         paragraph=Input {h}x{w}x{c}, {classes} classes ({labels}). The engine is a static library for Cortex-M4F (Nano 33 BLE) and Cortex-M0+ (Nano RP2040 Connect, Zero); the example prints Edge Impulse-style predictions.\n\
         category=Data Processing\n\
         url=https://github.com/tinystudio/tinystudio\n\
         architectures=mbed_nano,mbed_rp2040,mbed,rp2040,samd,nrf52\n\
         includes=tinystudio.h,tinystudio_model.h\n\
         precompiled=true\n\
         ldflags=-ltinystudio\n",
        ident = m.ident,
        version = model.version,
        classes = m.classes,
        labels = m.labels.join(", ").replace(['\n', '\r'], " "),
    )
}

fn arduino_readme(m: &ModelFacts, model: &LibraryModel<'_>) -> String {
    let targets: String = LIBRARY_TARGETS
        .iter()
        .map(|t| {
            format!(
                "- `src/{}/{STATIC_LIBRARY}` ({})\n",
                t.arduino_dir, t.triple
            )
        })
        .collect();
    format!(
        "# {title} for Arduino\n\n\
         The {title} model (version {version}) with TinyStudio's int8 engine, precompiled.\n\n\
         Install: Arduino IDE, *Sketch > Include Library > Add .ZIP Library...*, pick this zip; \
         then *File > Examples > TinyStudio {ident} > classify*. With arduino-cli: \
         `arduino-cli lib install --zip-path <this zip>` (needs `library.enable_unsafe_install`).\n\n\
         The engine comes as static libraries where the Arduino builder looks for them \
         (`precompiled=true`):\n\n{targets}\n\
         The Nano 33 BLE's core compiles with `-mfloat-abi=softfp`, so it links the softfp build; \
         cores with `-mfloat-abi=hard` the hard one; RP2040 and SAMD21 boards the Cortex-M0+ one.\n\n\
         `src/tinystudio.h` is the API (one context, your arena, no allocation); \
         `src/tinystudio_model.h` has the model's sizes and labels. {input}\n\n\
         Not tried on a real board: the studio's tests compile the sketch against the header \
         with each archive's flags and run it on an emulated Cortex-M4; it has not run on a \
         Nano 33 BLE nor been built by the Arduino IDE.\n",
        title = model.title,
        version = model.version,
        ident = m.ident,
        input = if m.takes_pixels {
            format!(
                "The example classifies a grey picture; replace it with your camera's frame, \
                 resized to {}x{} (or use `ts_set_input_image`, which resizes as the studio does).",
                m.input.1, m.input.0
            )
        } else {
            "The model takes raw int8 tensors (`TS_MODEL_TAKES_PIXELS` is 0); the example \
             classifies a tensor of zeros: put your features in its buffer, each byte an int8."
                .to_owned()
        },
    )
}

fn c_readme(m: &ModelFacts, model: &LibraryModel<'_>) -> String {
    let targets: String = LIBRARY_TARGETS
        .iter()
        .map(|t| {
            format!(
                "- `lib/{}/{STATIC_LIBRARY}`: `{}` (`{}`)\n",
                t.c_dir,
                t.triple,
                t.gcc_flags.join(" ")
            )
        })
        .collect();
    let (h, w, c) = m.input;
    format!(
        "# {title}: TinyStudio C library\n\n\
         The {title} model (version {version}; input {h}x{w}x{c}, {classes} classes, \
         {arena} bytes of arena) with TinyStudio's int8 engine as a static library.\n\n\
         - `include/tinystudio.h`: the API (no allocation: your context, your arena)\n\
         {targets}\
         - `model/model_data.c`, `model/model_data.h`: the model as a C array, its sizes and labels\n\
         - `model/model.tsmb`: the same model as a file, for loading from storage at run time\n\
         - `examples/`: `main.c` classifies the {inputs} of `input_data.c` and prints the \
         predictions; `make run` builds it and runs it on QEMU's emulated Cortex-M4 \
         (`qemu-system-arm -M mps2-an386`), `make run-m0plus` the Cortex-M0+ build\n\n\
         In your project: add `include/` and `model/` to the include path, compile \
         `model/model_data.c`, link `lib/<core>/{STATIC_LIBRARY}` with your core's flags.\n",
        title = model.title,
        version = model.version,
        classes = m.classes,
        arena = m.arena,
        inputs = if m.takes_pixels {
            "pictures"
        } else {
            "int8 tensors (the model takes raw tensors, `TS_MODEL_TAKES_PIXELS` 0)"
        },
    )
}

fn rust_manifest(m: &ModelFacts, model: &LibraryModel<'_>) -> String {
    format!(
        "[package]\nname = \"{ident}\"\nversion = \"1.0.{version}\"\nedition = \"2021\"\n\
         description = {description}\npublish = false\n\n\
         # No dependencies: the model is data. Run it with the tinystudio-engine crate\n\
         # (see README.md).\n[dependencies]\n",
        ident = m.ident,
        version = model.version,
        description = toml_string(&format!(
            "The {} model for the TinyStudio engine",
            model.title
        )),
    )
}

/// A TOML basic string: `"` and `\\` escaped, control characters as `\\uXXXX`.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn rust_lib(m: &ModelFacts, model: &LibraryModel<'_>) -> String {
    let (h, w, c) = m.input;
    let labels: String = m.labels.iter().map(|l| format!("    {l:?},\n")).collect();
    format!(
        "//! {title:?}, version {version}: a TinyStudio model (generated).\n\
         //!\n//! Run it with the `tinystudio-engine` crate (see README.md).\n\
         #![no_std]\n\n\
         /// Aligns the blob so the engine's constants (8-byte aligned inside it)\n\
         /// are aligned in flash too.\n\
         #[repr(C, align(8))]\nstruct Aligned<B: ?Sized>(B);\n\n\
         static BLOB: &Aligned<[u8]> = &Aligned(*include_bytes!(\"model.tsmb\"));\n\n\
         /// The model blob (`tinystudio_engine::ModelView::parse`).\n\
         pub fn blob() -> &'static [u8] {{\n    &BLOB.0\n}}\n\n\
         /// Bytes of tensor arena the engine's interpreter needs.\n\
         pub const ARENA_SIZE: usize = {arena};\n\
         /// The input: height, width, channels (1 grayscale, 3 RGB).\n\
         pub const INPUT_SHAPE: (usize, usize, usize) = ({h}, {w}, {c});\n\
         /// How the studio fitted pictures to the input (`tinystudio_engine::ResizeMode`).\n\
         pub const RESIZE_MODE: &str = {resize:?};\n\
         /// Whether the input is a picture (`Interpreter::set_input_pixels`) or\n\
         /// raw int8 tensors (`Interpreter::input_mut`), such as audio features.\n\
         pub const TAKES_PIXELS: bool = {pixels};\n\
         /// One label per output, in output order.\n\
         pub const LABELS: &[&str] = &[\n{labels}];\n",
        title = model.title,
        version = model.version,
        arena = m.arena,
        resize = model.resize_mode.as_str(),
        pixels = m.takes_pixels,
    )
}

fn rust_readme(m: &ModelFacts, model: &LibraryModel<'_>) -> String {
    format!(
        "# {ident}\n\nThe {title} model (version {version}) as a `no_std` crate: the blob \
         (`blob()`), `LABELS`, `INPUT_SHAPE`, `ARENA_SIZE` and the impulse's `RESIZE_MODE`.\n\n\
         It has no dependencies; run it with TinyStudio's engine, from a checkout of the studio \
         (`crates/engine`) or its repository:\n\n\
         ```toml\n[dependencies]\n{ident} = {{ path = \"../{ident}\" }}\n\
         tinystudio-engine = {{ path = \"../tinystudio/crates/engine\", default-features = false }}\n\
         # or: tinystudio-engine = {{ git = \"<the studio's repository>\", default-features = false }}\n\
         ```\n\n\
         ```rust\nuse tinystudio_engine::{{Interpreter, ModelView}};\n\n\
         static mut ARENA: [u8; {ident}::ARENA_SIZE] = [0; {ident}::ARENA_SIZE];\n\n\
         let view = ModelView::parse({ident}::blob())?;      // verifies the checksum once\n\
         let arena = unsafe {{ &mut *core::ptr::addr_of_mut!(ARENA) }};\n\
         let mut it = Interpreter::new(view, arena)?;\n\
         it.set_input_pixels(&pixels)?;                 // h*w*c bytes, already resized\n\
         // (a model of raw tensors, TAKES_PIXELS false: it.input_mut().copy_from_slice(&features))\n\
         it.invoke()?;\n\
         let raw: &[i8] = it.output();                  // one int8 score per label\n```\n\n\
         Build for a Cortex-M4F with `--target thumbv7em-none-eabihf` to get the engine's \
         Cortex-M4 kernels (as TinyStudio's own firmware does).\n",
        ident = m.ident,
        title = model.title,
        version = model.version,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_in_c_rust_and_arduino() {
        assert_eq!(identifier("Cups & Mugs!"), "cups_mugs");
        assert_eq!(identifier("3D parts"), "model_3d_parts");
        assert_eq!(identifier("Ünïcode ☕"), "n_code");
        assert_eq!(identifier("!!!"), "model");
        assert_eq!(identifier(&"x".repeat(100)).len(), 40);
    }

    #[test]
    fn strings_are_escaped_for_c_and_toml() {
        assert_eq!(c_string("say \"hi\"?"), "\"say \\042hi\\042\\077\"");
        assert_eq!(c_string("café"), "\"caf\\303\\251\"");
        assert_eq!(c_string("a\\b\n"), "\"a\\134b\\012\"");
        assert_eq!(
            toml_string("a \"b\" \\ c\n"),
            "\"a \\\"b\\\" \\\\ c\\u000A\""
        );
    }
}
