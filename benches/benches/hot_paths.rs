//! Criterion micro-benchmarks of the per-sample hot paths:
//! `cargo bench -p tsercom-bench --bench hot_paths`.
//!
//! - a sample's encode, timestamp stamp and decode (what every hop does);
//! - the aggregator: insert (`push_blocking`) and `take_new`, per sample;
//! - an IPC frame (a data frame carrying a sample) through a Unix socket
//!   pair and back: encode, write, read, decode.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use tsercom::data::{RemoteDataAggregator, Retention};
use tsercom::proto::ipc;
use tsercom::{CallerId, OverflowPolicy, Timestamp, Timestamped};

mod bench {
    tsercom::include_proto!("bench");
}
use bench::Sample;

fn sample(i: u64) -> Sample {
    let x = i as f64;
    Sample {
        timestamp: None,
        a: x,
        b: x + 1.0,
        c: x + 2.0,
        d: x + 3.0,
    }
}

fn encode_stamp_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("sample");
    group.throughput(Throughput::Elements(1));
    let base = Timestamp::now();
    group.bench_function("stamp+encode", |b| {
        let mut buf = Vec::with_capacity(64);
        let mut s = sample(7);
        b.iter(|| {
            s.set_timestamp(base);
            buf.clear();
            black_box(&s).encode(&mut buf).map_err(|e| e.to_string())?;
            black_box(buf.len());
            Ok::<(), String>(())
        });
    });
    let mut stamped = sample(7);
    stamped.set_timestamp(base);
    let bytes = stamped.encode_to_vec();
    group.bench_function("decode+read-timestamp", |b| {
        b.iter(|| {
            let s = Sample::decode(black_box(bytes.as_slice())).map_err(|e| e.to_string())?;
            let _ = black_box(s.timestamp());
            Ok::<(), String>(())
        });
    });
    group.finish();
}

fn aggregator(c: &mut Criterion) {
    const BATCH: u64 = 1024;
    let mut group = c.benchmark_group("aggregator");
    group.throughput(Throughput::Elements(BATCH));
    let caller = CallerId::random();
    let base = Timestamp::new(1_700_000_000, 0).unwrap_or_else(|_| Timestamp::now());
    group.bench_function("insert 1024 in order + take_new", |b| {
        let agg: RemoteDataAggregator<Sample> = RemoteDataAggregator::new(
            Retention {
                max_samples: 4096,
                max_age: None,
            },
            OverflowPolicy::DropOldest,
        );
        let mut next = 0u64;
        b.iter(|| {
            for _ in 0..BATCH {
                let t = base.offset_by_nanos(i128::from(next)).unwrap_or(base);
                let _ = agg.push_blocking(caller, t, sample(next));
                next += 1;
            }
            black_box(agg.take_new());
        });
    });
    group.finish();
}

fn ipc_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("ipc");
    group.throughput(Throughput::Elements(1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(rt) = rt else {
        eprintln!("skipped ipc: no tokio runtime");
        return;
    };
    let Ok((mut a, mut b)) = rt.block_on(async { tokio::net::UnixStream::pair() }) else {
        eprintln!("skipped ipc: no socket pair");
        return;
    };
    let mut stamped = sample(1);
    stamped.set_timestamp(Timestamp::now());
    let caller = CallerId::random().to_string();
    group.bench_function("data frame: encode, write, read, decode", |bench| {
        let mut buf = Vec::with_capacity(256);
        bench.iter_batched(
            || ipc::Frame {
                kind: Some(ipc::frame::Kind::Data(ipc::Data {
                    runtime: 0,
                    caller_id: caller.clone(),
                    timestamp: stamped.timestamp,
                    payload: stamped.encode_to_vec(),
                    refused: false,
                    duplicate: false,
                })),
            },
            |frame| {
                rt.block_on(async {
                    use tokio::io::AsyncWriteExt;
                    buf.clear();
                    tsercom::__private::encode_frame(&frame, &mut buf)?;
                    a.write_all(&buf).await.map_err(|e| tsercom::Error::Io {
                        path: "socket pair".into(),
                        source: e,
                    })?;
                    let back = tsercom::__private::read_frame(&mut b).await?;
                    black_box(back);
                    Ok::<(), tsercom::Error>(())
                })
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(hot_paths, encode_stamp_decode, aggregator, ipc_round_trip);
criterion_main!(hot_paths);
