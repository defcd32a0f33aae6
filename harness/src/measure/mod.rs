//! The instruments: the HTTP client that times requests, the /proc readers
//! for CPU and memory, and the harness's measurement of its own overhead.

pub mod calibrate;
pub mod cgroup;
pub mod http;
pub mod machine;
pub mod proc;
