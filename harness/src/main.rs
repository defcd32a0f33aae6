//! The `coldbench` command: a thin shell over the library (see `coldbench::cli`).

fn main() -> std::process::ExitCode {
    coldbench::cli::main()
}
