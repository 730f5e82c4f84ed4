//! 100 SIGKILLs at random moments of `benchtop run` / `benchtop resume` over one store, then
//! the figures: kills, runs finished, runs interrupted and resumed, finished runs lost (must
//! be 0). `cargo test --workspace --bench crash_loop [-- KILLS]`.

#[path = "../tests/crash_loop/mod.rs"]
mod crash_loop;

fn main() {
    let kills: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100);
    let start = std::time::Instant::now();
    let f = crash_loop::crash_loop(kills, 2026, 1500);
    println!("crash loop in {:.0} s: {f}", start.elapsed().as_secs_f64());
    if f.lost > 0 || !f.problems.is_empty() {
        std::process::exit(1);
    }
}
