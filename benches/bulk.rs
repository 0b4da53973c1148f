//! Client cost of a bulk batch: making 1000 rows of the built-in `bulk_sync` workload and
//! encoding them for each strategy.
//!
//! `gen/rows_1000`: `RowGen::row` for 1000 consecutive row numbers. `encode/tsv_1000`: the same
//! rows as `LOAD DATA` input (what `load-data` sends). `encode/sql_1000`: as one multi-row
//! `VALUES` list (what `values` sends). Divide by 1000 for a per-row figure; the throughput is
//! the bytes of row values.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use loadgate::bulk::gen::{self, Row, RowGen};
use std::time::Duration;

const ROWS: u64 = 1000;

fn row_gen() -> RowGen {
    let spec = loadgate::bulk::spec::load("bulk_sync").expect("built-in workload");
    RowGen {
        columns: spec.columns,
        seed: 42,
        revision: 0,
        changed_pct: 10.0,
        bad: Vec::new(),
    }
}

fn bench_gen(c: &mut Criterion) {
    let g = row_gen();
    let rows: Vec<Row> = (1..=ROWS).map(|n| g.row(n)).collect();
    let bytes: u64 = rows.iter().map(gen::payload_bytes).sum();
    let mut grp = c.benchmark_group("gen");
    grp.throughput(Throughput::Bytes(bytes));
    grp.bench_function("rows_1000", |b| {
        b.iter(|| {
            for n in 1..=ROWS {
                black_box(g.row(black_box(n)));
            }
        })
    });
    grp.finish();
}

fn bench_encode(c: &mut Criterion) {
    let g = row_gen();
    let rows: Vec<Row> = (1..=ROWS).map(|n| g.row(n)).collect();
    let bytes: u64 = rows.iter().map(gen::payload_bytes).sum();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut grp = c.benchmark_group("encode");
    grp.throughput(Throughput::Bytes(bytes));
    grp.bench_function("tsv_1000", |b| {
        b.iter(|| {
            buf.clear();
            for r in &rows {
                gen::push_tsv_line(&mut buf, r);
            }
            black_box(&buf);
        })
    });
    grp.bench_function("sql_1000", |b| {
        b.iter(|| {
            buf.clear();
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                gen::push_tuple(&mut buf, r);
            }
            black_box(&buf);
        })
    });
    grp.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench_gen, bench_encode
}
criterion_main!(benches);
