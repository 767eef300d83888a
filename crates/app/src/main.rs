//! The `tinystudio` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    tinystudio::cli::main()
}
