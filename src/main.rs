//! The sessctl binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    sessctl::main()
}
