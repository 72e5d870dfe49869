//! The `gatehouse` command: parses the command line and hands over to the library.

// A gateway call allocates and frees many small buffers across two worker threads. glibc's
// malloc spent ~5 % of the gateway's CPU consolidating its free lists; mimalloc's per-thread
// pages avoid that: +12 % calls/s through the gateway in `benches/gateway.rs`, latency within
// noise (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gatehouse::cli::main()
}
