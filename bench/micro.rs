//! Criterion micro-benchmarks of the hot paths: request decoding and reply
//! encoding (MB/s), the keyed table hash, keyspace get/set, and snapshot
//! encode/decode (MB/s).
//! `cargo bench --bench micro`.

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use forkv::db::{Entry, Keyspace, SmallBytes, Value};
use forkv::persist::format::{self, Record, ValueRef, Writer};
use forkv::protocol::{Decoded, Limits, Output, Reply, decode};
use std::hint::black_box;

fn requests(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        let key = format!("key:{i:08}");
        v.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$16\r\n0123456789abcdef\r\n",
                key.len()
            )
            .as_bytes(),
        );
    }
    v
}

fn protocol(c: &mut Criterion) {
    let input = requests(10_000);
    let limits = Limits {
        max_bulk_len: 512 << 20,
        unauthenticated: false,
    };
    let mut g = c.benchmark_group("protocol");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("decode 10k SET requests", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&input[..]);
            let mut n = 0;
            while let Ok(Decoded::Request(args)) = decode(&mut buf, limits) {
                n += args.len();
            }
            black_box(n)
        })
    });
    let replies: Vec<Reply> = (0..10_000)
        .map(|i| match i % 3 {
            0 => Reply::Ok,
            1 => Reply::Value(SmallBytes::new(b"0123456789abcdef")),
            _ => Reply::Int(i),
        })
        .collect();
    let mut probe = Output::default();
    for r in &replies {
        probe.encode(r, 2);
    }
    g.throughput(Throughput::Bytes(probe.len() as u64));
    for resp in [2u8, 3] {
        g.bench_with_input(
            BenchmarkId::new("encode 10k replies", format!("RESP{resp}")),
            &resp,
            |b, &resp| {
                b.iter(|| {
                    let mut o = Output::default();
                    for r in &replies {
                        o.encode(r, resp);
                    }
                    black_box(o.take())
                })
            },
        );
    }
    g.finish();
}

/// The keyed hash every table uses (SipHash-1-3), on typical key lengths,
/// next to foldhash (the unkeyed-strength hash the tables used before) as
/// a yardstick.
fn hash(c: &mut Criterion) {
    use std::hash::BuildHasher;
    let fold = foldhash::fast::RandomState::default();
    let mut g = c.benchmark_group("hash (1024 keys)");
    for len in [8usize, 16, 64] {
        let keys: Vec<Vec<u8>> = (0..1024u32)
            .map(|i| {
                let mut k = format!("key:{i}:").into_bytes();
                k.resize(len, b'x');
                k
            })
            .collect();
        g.throughput(Throughput::Elements(keys.len() as u64));
        g.bench_function(BenchmarkId::new("siphash-1-3", len), |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for k in &keys {
                    acc ^= forkv::util::hash::hash_bytes(black_box(k));
                }
                black_box(acc)
            })
        });
        g.bench_function(BenchmarkId::new("foldhash", len), |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for k in &keys {
                    acc ^= fold.hash_one(black_box(k.as_slice()));
                }
                black_box(acc)
            })
        });
    }
    g.finish();
}

fn keyspace(c: &mut Criterion) {
    let n = 1_000_000u64;
    let mut ks = Keyspace::new(16);
    for i in 0..n {
        ks.set(
            0,
            format!("key:{i}").as_bytes(),
            Value::Str(SmallBytes::new(b"0123456789abcdef")),
            false,
            0,
        );
    }
    let keys: Vec<Vec<u8>> = (0..4096u64)
        .map(|i| format!("key:{}", (i * 7919) % n).into_bytes())
        .collect();
    let mut g = c.benchmark_group("keyspace (1M keys)");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("get", |b| {
        b.iter(|| {
            let mut hits = 0;
            for k in &keys {
                hits += ks.lookup_read(0, k, 0, Default::default()).is_some() as u32;
            }
            black_box(hits)
        })
    });
    g.bench_function("set (overwrite)", |b| {
        b.iter(|| {
            for k in &keys {
                ks.set(
                    0,
                    k,
                    Value::Str(SmallBytes::new(b"fedcba9876543210")),
                    false,
                    0,
                );
            }
        })
    });
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    let mut ks = Keyspace::new(16);
    for i in 0..200_000u64 {
        ks.insert_entry(
            0,
            format!("key:{i}").as_bytes(),
            Entry::new(Value::Str(SmallBytes::new(b"0123456789abcdef")), 0),
            None,
        );
    }
    let mut file = Vec::new();
    {
        let mut w = Writer::new(&mut file, 0, "bench").unwrap();
        forkv::persist::save::write_keyspace(&ks, &mut w, &mut |_| {}).unwrap();
        w.finish().unwrap();
    }
    let mut g = c.benchmark_group("snapshot (200k keys)");
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.bench_function("encode", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(file.len());
            let mut w = Writer::new(&mut out, 0, "bench").unwrap();
            forkv::persist::save::write_keyspace(&ks, &mut w, &mut |_| {}).unwrap();
            w.finish().unwrap();
            black_box(out.len())
        })
    });
    g.bench_function("check + decode", |b| {
        b.iter(|| {
            let checked = format::check(&file).unwrap();
            let mut n = 0;
            for blk in &checked.blocks {
                for r in format::decode_records(blk).unwrap() {
                    if let Record {
                        value: ValueRef::Str(v),
                        ..
                    } = r
                    {
                        n += v.len();
                    }
                }
            }
            black_box(n)
        })
    });
    g.bench_function("load into a keyspace", |b| {
        b.iter(|| {
            let mut ks = Keyspace::new(16);
            forkv::persist::load::load_bytes(&file, &mut ks, 0).unwrap();
            black_box(ks.len(0))
        })
    });
    g.finish();
    let _ = Bytes::new();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = protocol, hash, keyspace, snapshot
}
criterion_main!(benches);
