//! Sharded data for data-parallel training (`[data] shard = true`, NPY features): each rank
//! reads from the features file only the training rows it trains, and rank 0 the validation and
//! test rows it evaluates, so that no machine holds the whole set.
//!
//! How the rows are dealt:
//! 1. Every rank reads the labels file whole (4 bytes a row) and makes the test, class and
//!    validation selections on the row numbers and labels alone, with the same code and seeds as
//!    one process: the training part is the same rows in the same order as there.
//! 2. Rank r takes the r-th contiguous block of that order ([`distributed::shard`]): the rows
//!    whose count is its share of every global batch of the epoch, so every row is trained
//!    once an epoch and the batches have the sizes one process gives them.
//! 3. It reads those rows by position (ascending, seeking over the others, see [`NpyRows`]).
//! 4. The scaler's statistics are reduced over the ranks ([`Scaler::fit_over`]): every rank
//!    scales with the statistics of the whole training part.
//!
//! Each epoch a rank shuffles its own block (see [`crate::FitOptions::sharded`]): a global
//! batch is then a random draw of each rank's block, not of the whole set, so the run is not
//! the one-process run, only one like it. With the default stratified split the blocks are
//! random subsets of the training part; with `shuffle = false` they are file order, and a file
//! sorted by class gives each rank different classes (the batches still mix them, one share
//! from each rank).

use std::path::Path;

use super::label_split::{split_on_labels, LabelSplit};
use super::npy::NpyRows;
use super::prepare::{scale_parts, Prepared};
use super::DataSpec;
use super::{Dataset, Scaler};
use crate::distributed::{self, Communicator};
use crate::{Error, Result, Tensor};

/// What a rank holding only its block of the training rows knows of the whole set.
#[derive(Clone, Debug, PartialEq)]
pub struct Shard {
    /// This rank.
    pub rank: usize,
    /// The number of ranks.
    pub ranks: usize,
    /// The training rows of every rank together.
    pub train_rows: usize,
    /// Every training row's label, in training order (class weights are fitted on the whole
    /// training part).
    pub train_labels: Tensor,
    /// A hash of the split (the file rows and labels of every part, the features' shape), the
    /// same on every rank that reads the same files the same way.
    pub fingerprint: u64,
}

/// Prepares this rank's part of the spec's NPY data for data-parallel training over `comm` in
/// global batches of `batch_size` (see the module docs): its block of the training rows, and
/// on rank 0 the validation and test parts, scaled with `scaler` or with one fitted on the
/// whole training part. Every rank must call it (the scaler is fitted collectively).
pub fn prepare_shard(
    spec: &DataSpec,
    scaler: Option<Scaler>,
    batch_size: usize,
    comm: &dyn Communicator,
) -> Result<Prepared> {
    // A file one machine cannot read, or a bad row in one rank's block, stops every rank.
    let dealt = deal(spec, batch_size, comm.rank(), comm.size());
    let Dealt {
        mut train,
        mut validation,
        mut test,
        class_names,
        warnings,
        shard,
    } = distributed::all_ok(comm, dealt)?;
    let scaler = match scaler {
        Some(s) => s,
        None => Scaler::fit_over(spec.scale, &train.x, Some(comm))
            .checked()
            .map_err(|e| train.error(e.detail()))?,
    };
    let scaled = scale_parts(
        spec,
        &scaler,
        std::iter::once(&mut train)
            .chain(validation.as_mut())
            .chain(test.as_mut()),
    );
    distributed::all_ok(comm, scaled)?;
    Ok(Prepared {
        train,
        validation,
        test,
        scaler,
        class_names,
        warnings,
        shard: Some(shard),
    })
}

/// A rank's rows, read and not yet scaled.
struct Dealt {
    train: Dataset,
    validation: Option<Dataset>,
    test: Option<Dataset>,
    class_names: Option<Vec<String>>,
    warnings: Vec<String>,
    shard: Shard,
}

/// Deals the rows (module docs, steps 1 to 3) and reads rank `rank`'s, without a collective.
fn deal(spec: &DataSpec, batch_size: usize, rank: usize, ranks: usize) -> Result<Dealt> {
    let (path, labels_path) = check_shardable(spec)?;
    // The splits and selections on the labels and row numbers alone (step 1).
    let LabelSplit {
        features,
        train,
        validation,
        test,
        class_names,
        warnings,
    } = split_on_labels(spec, path, labels_path)?;
    let fingerprint = split_fingerprint(
        features.shape(),
        [&train].into_iter().chain(&validation).chain(&test),
    );
    let block = distributed::shard(train.len(), batch_size, rank, ranks);
    let mine = read_part(&features, train.slice(block))?;
    if let Some((row, col)) = mine.first_non_finite() {
        return Err(mine.row_error(row, format!("feature {col} is not a finite number")));
    }
    // Rank 0 evaluates.
    let lead = rank == 0;
    let validation = validation.filter(|_| lead);
    let test = test.filter(|_| lead);
    Ok(Dealt {
        train: mine,
        validation: validation.map(|v| read_part(&features, v)).transpose()?,
        test: test.map(|t| read_part(&features, t)).transpose()?,
        class_names,
        warnings,
        shard: Shard {
            rank,
            ranks,
            train_rows: train.len(),
            train_labels: train.labels,
            fingerprint,
        },
    })
}

/// The features and labels files of a spec that can be sharded (NPY), or why it cannot.
pub fn check_shardable(spec: &DataSpec) -> Result<(&Path, &Path)> {
    let path = Path::new(&spec.dataset);
    if path.extension().and_then(|e| e.to_str()) != Some("npy") {
        return Err(Error::Config(format!(
            "[data] shard = true reads rows by position from a .npy features file; dataset `{}` is not one (remove `shard`, and every rank loads the whole set)",
            spec.dataset
        )));
    }
    let labels = spec.npy_labels()?;
    Ok((path, labels))
}

/// `part` (rows without features) with its features read from the file.
fn read_part(features: &NpyRows, part: Dataset) -> Result<Dataset> {
    let numbers = match &part.origin {
        Some(origin) => &origin.numbers,
        None => return Err(Error::Data("a sharded part lost its row numbers".into())),
    };
    Ok(Dataset {
        x: features.read_rows(numbers)?,
        ..part
    })
}

/// A hash of the parts' file rows and labels, and of the features' shape.
fn split_fingerprint<'a>(shape: &[usize], parts: impl Iterator<Item = &'a Dataset>) -> u64 {
    let mut hash = distributed::fingerprint(b"shard");
    for &d in shape {
        distributed::fnv_extend(&mut hash, &(d as u64).to_le_bytes());
    }
    for part in parts {
        distributed::fnv_extend(&mut hash, &(part.len() as u64).to_le_bytes());
        for number in part.origin.iter().flat_map(|o| &o.numbers) {
            distributed::fnv_extend(&mut hash, &number.to_le_bytes());
        }
        for label in part.labels.data() {
            distributed::fnv_extend(&mut hash, &label.to_bits().to_le_bytes());
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::npy::write_npy;
    use crate::data::{prepare, Scale};
    use crate::distributed::ThreadRanks;

    /// The digits as x.npy (features (N, 8, 8), each row's first pixel replaced by its row
    /// number, so that a row read tells where it came from) and y.npy, and a spec over them.
    fn digits_npy(dir: &Path, scale: Scale) -> DataSpec {
        let all = crate::data::digits_all().unwrap();
        let n = all.len();
        let mut x = all.x.data().to_vec();
        for i in 0..n {
            x[i * 64] = i as f32;
        }
        write_npy(&dir.join("x.npy"), "<f4", &[n as u64, 8, 8], &x);
        write_npy(&dir.join("y.npy"), "<f4", &[n as u64], all.labels.data());
        DataSpec {
            dataset: dir.join("x.npy").display().to_string(),
            labels: Some(dir.join("y.npy")),
            test_split: 0.2,
            validation_split: 0.1,
            scale,
            shard: true,
            ..DataSpec::default()
        }
    }

    /// `prepare_shard` on `ranks` threads.
    fn shards(spec: &DataSpec, batch: usize, ranks: usize) -> Vec<Prepared> {
        let handles: Vec<_> = ThreadRanks::group(ranks)
            .into_iter()
            .map(|comm| {
                let spec = spec.clone();
                std::thread::spawn(move || prepare_shard(&spec, None, batch, &comm).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    /// The first feature before scaling: the file row.
    fn file_rows(part: &Dataset, scaler: &Scaler) -> Vec<u64> {
        let (offset, scale) = (scaler.offset[0], scaler.scale[0]);
        part.x
            .data()
            .chunks_exact(64)
            .map(|r| (r[0] * scale + offset).round() as u64)
            .collect()
    }

    #[test]
    fn each_rank_reads_its_block_of_the_one_process_training_rows() {
        let dir = tempfile::tempdir().unwrap();
        let spec = digits_npy(dir.path(), Scale::Standard);
        let whole = prepare(&spec, None).unwrap();
        let batch = 64;
        let parts = shards(&spec, batch, 3);
        let order = whole.train.origin.as_ref().unwrap().numbers.clone();
        let mut at = 0;
        for (rank, part) in parts.iter().enumerate() {
            let shard = part.shard.as_ref().unwrap();
            assert_eq!((shard.rank, shard.ranks), (rank, 3));
            assert_eq!(shard.train_rows, whole.train.len());
            assert_eq!(shard.train_labels, whole.train.labels);
            assert_eq!(
                shard.fingerprint,
                parts[0].shard.as_ref().unwrap().fingerprint
            );
            let block = distributed::shard(whole.train.len(), batch, rank, 3);
            assert_eq!(block.start, at);
            at = block.end;
            // The rows are the block of the one-process order, features and labels read right.
            let numbers = &part.train.origin.as_ref().unwrap().numbers;
            assert_eq!(numbers[..], order[block.clone()]);
            assert_eq!(file_rows(&part.train, &part.scaler), numbers[..]);
            assert_eq!(part.train.labels, whole.train.slice(block).labels);
            // Rank 0 alone holds the validation and test parts, the one process's.
            assert_eq!(part.validation.is_some(), rank == 0);
            assert_eq!(part.test.is_some(), rank == 0);
            // The scaler is the whole training part's.
            for (a, b) in part.scaler.offset.iter().zip(&whole.scaler.offset) {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
            }
            for (a, b) in part.scaler.scale.iter().zip(&whole.scaler.scale) {
                assert!((a - b).abs() <= 1e-5 * b.abs(), "{a} vs {b}");
            }
        }
        assert_eq!(at, whole.train.len());
        let lead = &parts[0];
        let (v, t) = (
            lead.validation.as_ref().unwrap(),
            lead.test.as_ref().unwrap(),
        );
        assert_eq!(v.origin, whole.validation.as_ref().unwrap().origin);
        assert_eq!(t.labels, whole.test.as_ref().unwrap().labels);
        let close = |a: &Tensor, b: &Tensor| {
            a.data()
                .iter()
                .zip(b.data())
                .all(|(x, y)| (x - y).abs() < 1e-4)
        };
        assert!(close(&v.x, &whole.validation.as_ref().unwrap().x));
        assert!(close(&t.x, &whole.test.as_ref().unwrap().x));
    }

    #[test]
    fn the_unit_scaler_is_the_whole_training_parts_range() {
        let dir = tempfile::tempdir().unwrap();
        let spec = digits_npy(dir.path(), Scale::Unit);
        let whole = prepare(&spec, None).unwrap();
        for part in shards(&spec, 32, 2) {
            assert_eq!(part.scaler, whole.scaler);
        }
    }

    #[test]
    fn sharding_a_csv_dataset_is_an_error() {
        let spec = DataSpec {
            dataset: "table.csv".into(),
            shard: true,
            ..DataSpec::default()
        };
        let comm = ThreadRanks::group(1).pop().unwrap();
        let e = prepare_shard(&spec, None, 32, &comm)
            .unwrap_err()
            .to_string();
        assert!(e.contains("shard = true") && e.contains("table.csv"), "{e}");
    }
}
