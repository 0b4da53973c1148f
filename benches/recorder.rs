//! Histogram recording cost: what every transaction and every statement pays on the hot path.
//!
//! `record` is the engine's only way into an HDR histogram (ns, 3 significant digits, 1 µs to
//! 1 h); `merge` is what the aggregator does once per interval per client thread and what shard
//! merging does at the end. Read "time" as the cost of one call.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use loadgate::engine::recorder::{new_histogram, record};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// Latencies spread like a real run: mostly 50 µs – 5 ms, a tail up to a second.
fn latencies(n: usize) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(42);
    (0..n)
        .map(|_| {
            let base = rng.gen_range(50_000u64..5_000_000);
            if rng.gen_ratio(1, 100) {
                base * 200
            } else {
                base
            }
        })
        .collect()
}

fn bench_record(c: &mut Criterion) {
    let values = latencies(4096);
    let mut g = c.benchmark_group("histogram");
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("record_4096_values", |b| {
        let mut h = new_histogram();
        b.iter(|| {
            for &v in &values {
                record(&mut h, black_box(v));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("histogram");
    let mut a = new_histogram();
    let mut other = new_histogram();
    for (i, &v) in latencies(100_000).iter().enumerate() {
        if i % 2 == 0 {
            record(&mut a, v);
        } else {
            record(&mut other, v);
        }
    }
    g.bench_function("merge_two_filled", |b| {
        b.iter_batched_ref(
            || a.clone(),
            |acc| {
                acc.add(black_box(&other)).expect("same bounds");
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("new_histogram", |b| b.iter(new_histogram));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = bench_record
}
criterion_main!(benches);
