//! The median of a benchmark's samples, in milliseconds.

pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// The head of a table of samples: one [`row`] per figure.
pub const TABLE_HEAD: &str = "| figure | median | min | max | runs |\n|---|---|---|---|---|\n";

/// A table row: the figure's name, its samples' median, min and max in milliseconds, and how
/// many there are.
pub fn row(name: &str, samples: &[f64]) -> String {
    format!(
        "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {} |\n",
        median(samples),
        samples.iter().copied().fold(f64::INFINITY, f64::min),
        samples.iter().copied().fold(0.0, f64::max),
        samples.len()
    )
}

/// The head of the results file of `cargo bench --bench NAME`: its title, and what was measured
/// on how many CPUs.
pub fn heading(name: &str, setup: &str) -> String {
    format!(
        "# {name} benchmark\n\n`cargo bench --bench {name}`: {setup} {} CPUs.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
}
