//! Deterministic mutation test: a few thousand seeded mutations of the
//! fixtures' metadata (byte flips, zeroed sectors, edited length and extent
//! fields, truncations), each run in-process through everything that reads
//! an untrusted image: `IsoImage::open`, `Media::detect`, `boot_report`,
//! the in-place patch planner and `verify`. No case may panic or take more
//! than [`CASE_LIMIT`]; a failure names the seed, so it can be replayed with
//! `MUTATION_SEED=<seed> cargo test --test mutation`.
//!
//! The mutated image is one file edited in place and restored after each
//! case, so a case costs a few pwrites rather than a copy of the image.

mod common;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use esxi_iso::esxi::{self, bootcfg, Media};
use esxi_iso::iso::record::Record;
use esxi_iso::iso::{IsoImage, Patcher};
use esxi_iso::verify::{self, Depth};

use common::fixture::{self, work_dir};
use common::rng::{seeds, Rng};

const S: usize = 2048;
const CASE_LIMIT: Duration = Duration::from_secs(2);
/// Sectors from the start where the fixtures keep their metadata
/// (descriptors, path tables, directories, boot catalog).
const META_SECTORS: usize = 48;

/// Offsets worth mutating in one fixture.
struct Targets {
    orig: Vec<u8>,
    /// Byte offsets of directory records (and the descriptors' root records).
    records: Vec<usize>,
    /// Sectors holding metadata, boot.cfg text and the boot file's head.
    sectors: Vec<usize>,
}

fn targets(path: &Path) -> Targets {
    let orig = std::fs::read(path).unwrap();
    let img = IsoImage::open(path).unwrap();
    let mut records: Vec<usize> = img
        .descriptors
        .iter()
        .filter(|d| d.kind == 1 || d.kind == 2)
        .map(|d| d.lba as usize * S + 156)
        .collect();
    let mut sectors: Vec<usize> = (16..META_SECTORS).collect();
    let trees = std::iter::once(&img.primary).chain(img.joliet.as_ref());
    for tree in trees {
        for d in &tree.dirs {
            let start = d.extent as usize * S;
            for sector in (start..start + d.size as usize).step_by(S) {
                sectors.push(sector / S);
                let mut pos = sector;
                while let Ok(Some(r)) = Record::parse(&orig[pos..sector + S]) {
                    records.push(pos);
                    pos += r.raw.len();
                }
            }
        }
    }
    for p in ["BOOT.CFG", "EFI/BOOT/BOOT.CFG", "ISOLINUX.BIN"] {
        sectors.push(img.record(img.find(p).unwrap()).extent as usize);
    }
    sectors.sort_unstable();
    sectors.dedup();
    Targets {
        orig,
        records,
        sectors,
    }
}

/// One mutation: byte patches and an optional truncation.
#[derive(Debug, Default)]
struct Mutation {
    patches: Vec<(usize, Vec<u8>)>,
    truncate: Option<usize>,
    what: Vec<String>,
}

fn both_u32(v: u32) -> Vec<u8> {
    let mut b = v.to_le_bytes().to_vec();
    b.extend_from_slice(&v.to_be_bytes());
    b
}

fn mutate(t: &Targets, seed: u64) -> Mutation {
    let mut rng = Rng::new(seed);
    let mut m = Mutation::default();
    let len = t.orig.len();
    let interesting = |rng: &mut Rng| -> u32 {
        let sectors = (len / S) as u32;
        match rng.below(10) {
            0 => 0,
            1 => 1,
            2 => u32::MAX,
            3 => 0x7fff_ffff,
            4 => sectors,
            5 => sectors - 1,
            6 => sectors + 1,
            7 => 16 << 20,
            8 => rng.below(64) as u32,
            _ => rng.next() as u32,
        }
    };
    for _ in 0..1 + rng.below(3) {
        match rng.below(6) {
            0 | 1 => {
                let n = 1 + rng.below(8);
                for _ in 0..n {
                    let sector = rng.pick(&t.sectors);
                    let at = sector * S + rng.below(S);
                    let byte = match rng.below(3) {
                        0 => t.orig[at] ^ (1 << rng.below(8)),
                        1 => rng.next() as u8,
                        _ => rng.pick(&[0u8, 0xff, 0x7f, 0x80, 1, 34]),
                    };
                    m.patches.push((at, vec![byte]));
                }
                m.what.push(format!("{n} byte(s) changed"));
            }
            2 => {
                let sector = rng.pick(&t.sectors);
                let fill = rng.pick(&[0u8, 0xff]);
                m.patches.push((sector * S, vec![fill; S]));
                m.what
                    .push(format!("sector {sector} filled with {fill:#04x}"));
            }
            3 | 4 => {
                let rec = rng.pick(&t.records);
                let (field, bytes) = match rng.below(6) {
                    0 => ("extent", both_u32(interesting(&mut rng))),
                    1 => ("size", both_u32(interesting(&mut rng))),
                    2 => (
                        "extent LE only",
                        interesting(&mut rng).to_le_bytes().to_vec(),
                    ),
                    3 => ("length", vec![rng.below(256) as u8]),
                    4 => ("name length", vec![rng.below(256) as u8]),
                    _ => ("flags", vec![rng.below(256) as u8]),
                };
                let off = match field {
                    "extent" | "extent LE only" => 2,
                    "size" => 10,
                    "length" => 0,
                    "name length" => 32,
                    _ => 25,
                };
                m.patches.push((rec + off, bytes));
                m.what.push(format!("record at {rec}: {field}"));
            }
            _ => {
                let at = match rng.below(3) {
                    0 => rng.below(META_SECTORS * S),
                    1 => rng.below(len),
                    _ => len - S * (1 + rng.below(4)),
                };
                m.truncate = Some(m.truncate.map_or(at, |t| t.min(at)));
                m.what.push(format!("truncated at {at}"));
            }
        }
    }
    m
}

struct Image {
    file: File,
    path: PathBuf,
}

impl Image {
    fn apply(&self, m: &Mutation) {
        for (at, b) in &m.patches {
            self.file.write_all_at(b, *at as u64).unwrap();
        }
        if let Some(t) = m.truncate {
            self.file.set_len(t as u64).unwrap();
        }
    }

    fn restore(&self, orig: &[u8], m: &Mutation) {
        if let Some(t) = m.truncate {
            self.file.set_len(orig.len() as u64).unwrap();
            self.file.write_all_at(&orig[t..], t as u64).unwrap();
        }
        for (at, b) in &m.patches {
            self.file
                .write_all_at(&orig[*at..*at + b.len()], *at as u64)
                .unwrap();
        }
    }
}

/// Everything that reads an untrusted image. Errors are fine; the outcome
/// is a short label for the tally.
fn exercise(path: &Path, source: Option<&IsoImage>) -> &'static str {
    let Ok(img) = IsoImage::open(path) else {
        return "open error";
    };
    let _ = esxi::boot_report(&img);
    let _ = verify::verify(&img, Depth::Full { source });
    let Ok(media) = Media::detect(&img) else {
        return "not ESXi";
    };
    let edits = bootcfg::KernelOptEdits {
        set: vec![("ks".into(), Some("cdrom:/KS.CFG".into()))],
        remove: vec![],
    };
    let _ = bootcfg::edit(&media.bios, &edits);
    let Ok(mut p) = Patcher::new(&img, Some(0)) else {
        return "patch refused";
    };
    for (path, data) in [
        (
            "BOOT.CFG",
            &b"kernel=/b.b00\nkernelopt=runweasel ks=cdrom:/KS.CFG\n"[..],
        ),
        ("EFI/BOOT/BOOT.CFG", &b"kernel=/b.b00\n"[..]),
        ("KS.CFG", &[b'#'; 3000][..]),
    ] {
        if p.put_file(path, data).is_err() {
            return "patch error";
        }
    }
    match p.finish() {
        Ok(_) => "opened and patched",
        Err(_) => "patch error",
    }
}

fn run_corpus(name: &str, src: &Path, seeds: std::ops::Range<u64>) {
    let t = targets(src);
    let dir = work_dir(name);
    let path = dir.path().join("mutant.iso");
    std::fs::write(&path, &t.orig).unwrap();
    let img = Image {
        file: OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap(),
        path,
    };
    let source = Arc::new(IsoImage::open(src).unwrap());
    let started = Instant::now();
    let mut tally = std::collections::BTreeMap::<&str, usize>::new();
    let mut slowest = (Duration::ZERO, 0u64);
    for seed in seeds.clone() {
        let m = mutate(&t, seed);
        img.apply(&m);
        // Compare with the source for one case in 16 (that reads every file).
        let with_source = seed % 16 == 0;
        let (tx, rx) = mpsc::channel();
        let p = img.path.clone();
        let src = with_source.then(|| Arc::clone(&source));
        let case_start = Instant::now();
        // A plain thread, not a scoped one: a hung case must not stop the
        // test from failing. A panic drops `tx`, which ends the wait.
        std::thread::spawn(move || {
            let label = exercise(&p, src.as_deref());
            let _ = tx.send(label);
        });
        let handle = match rx.recv_timeout(CASE_LIMIT) {
            Ok(label) => Ok(label),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(()),
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "{name}: seed {seed} took more than {CASE_LIMIT:?} ({:?}); replay with MUTATION_SEED={seed}",
                m.what
            ),
        };
        let took = case_start.elapsed();
        if took > slowest.0 {
            slowest = (took, seed);
        }
        match handle {
            Ok(label) => *tally.entry(label).or_default() += 1,
            Err(_) => panic!(
                "{name}: seed {seed} panicked ({:?}); replay with MUTATION_SEED={seed}",
                m.what
            ),
        }
        img.restore(&t.orig, &m);
    }
    assert_eq!(
        std::fs::read(&img.path).unwrap(),
        t.orig,
        "restore left the image changed"
    );
    eprintln!(
        "{name}: {} mutations in {:.1?} (slowest: seed {} in {:.1?}): {tally:?}",
        seeds.end - seeds.start,
        started.elapsed(),
        slowest.1,
        slowest.0
    );
}

#[test]
fn plain_fixture_mutations() {
    if !fixture::available() {
        return;
    }
    run_corpus("mutation-plain", &fixture::fixtures().plain, seeds(0..2500));
}

#[test]
fn rock_ridge_joliet_fixture_mutations() {
    if !fixture::available() {
        return;
    }
    run_corpus(
        "mutation-rrj",
        &fixture::fixtures().rrj,
        seeds(1_000_000..1_001_500),
    );
}
