//! Sharded data-parallel training without MPI: ranks as threads (`ThreadRanks`), each
//! holding only its block of the training rows (`prepare_shard`). The MPI runs are in
//! tests/mpi.rs; these check the library's side: the sums over the ranks, an empty block, and
//! errors that only one rank sees.

mod common;

use std::path::Path;
use std::sync::Arc;

use deeptrain::data::{prepare, prepare_shard, Prepared};
use deeptrain::distributed::{Communicator, ThreadRanks};
use deeptrain::spec::DataSpec;
use deeptrain::{
    Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Result, Sequential, Sgd,
};

/// The embedded digits as x.npy and y.npy in `dir`, and a sharded spec over them.
fn digits_npy(dir: &Path) -> DataSpec {
    let digits = deeptrain::data::digits_all().unwrap();
    let n = digits.len() as u64;
    common::write_npy(&dir.join("x.npy"), &[n, 8, 8], digits.x.data());
    common::write_npy(&dir.join("y.npy"), &[n], digits.labels.data());
    DataSpec {
        dataset: dir.join("x.npy").display().to_string(),
        labels: Some(dir.join("y.npy")),
        test_split: 0.2,
        shard: true,
        ..DataSpec::default()
    }
}

fn model() -> Sequential {
    let mut model = Sequential::new(&[8, 8])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(32).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(3)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.05).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model
}

/// `work(rank, its data)` on `ranks` threads, each with its shard of `spec` for `batch`.
fn on_ranks<T: Send + 'static>(
    spec: &DataSpec,
    batch: usize,
    ranks: usize,
    work: fn(Arc<dyn Communicator>, Prepared, usize) -> Result<T>,
) -> Vec<Result<T>> {
    let handles: Vec<_> = ThreadRanks::group(ranks)
        .into_iter()
        .map(|rank| {
            let spec = spec.clone();
            std::thread::spawn(move || {
                let comm: Arc<dyn Communicator> = Arc::new(rank);
                let data = prepare_shard(&spec, None, batch, comm.as_ref())?;
                work(comm, data, batch)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn fit_sharded(comm: Arc<dyn Communicator>, data: Prepared, batch: usize) -> Result<Vec<f64>> {
    let mut model = model();
    let options = FitOptions {
        epochs: 3,
        batch_size: batch,
        communicator: Some(comm.clone()),
        sharded: true,
        ..FitOptions::default()
    };
    let history = model.fit(&data.train, data.validation.as_ref(), &options, &mut [])?;
    let mut trained = model.evaluate_over(&data.train, 256, Some(comm.as_ref()))?;
    trained.extend(history.epochs.last().unwrap().values.clone());
    Ok(trained.into_iter().map(|(_, v)| v).collect())
}

#[test]
fn evaluation_over_the_ranks_is_that_of_the_whole_training_part() {
    let dir = tempfile::tempdir().unwrap();
    let spec = digits_npy(dir.path());
    let whole = prepare(&spec, None).unwrap();
    let expected = model().evaluate(&whole.train, 256).unwrap();
    let results = on_ranks(&spec, 32, 3, |comm, data, _| {
        model().evaluate_over(&data.train, 100, Some(comm.as_ref()))
    });
    for result in results {
        for ((name, got), (_, want)) in result.unwrap().iter().zip(&expected) {
            assert!(
                (got - want).abs() < 1e-5,
                "{name}: {got} over the ranks, {want} whole"
            );
        }
    }
}

#[test]
fn sharded_fit_learns_and_every_rank_reports_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let spec = digits_npy(dir.path());
    let results: Vec<Vec<f64>> = on_ranks(&spec, 32, 2, fit_sharded)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(results[0], results[1]);
    // [loss, accuracy] of the trained model on every rank's rows, then the last epoch's logs.
    assert!(results[0][1] > 0.75, "training accuracy {}", results[0][1]);
}

#[test]
fn a_rank_with_an_empty_block_trains_with_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let spec = digits_npy(dir.path());
    // Batches of 1 over 2 ranks: rank 1's share of every batch, and so its block, is empty.
    let results = on_ranks(&spec, 1, 2, |comm, data, batch| {
        assert_eq!(data.train.is_empty(), comm.rank() == 1);
        fit_sharded(comm, data, batch)
    });
    let results: Vec<Vec<f64>> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(results[0], results[1]);
}

#[test]
fn an_error_in_one_ranks_rows_stops_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    let spec = digits_npy(dir.path());
    // Rank 1 holds its block twice: neither rank's block is its shard of the rows any more.
    let results = on_ranks(&spec, 32, 2, |comm, data, batch| {
        let train = if comm.rank() == 1 {
            let rows: Vec<usize> = (0..data.train.len()).chain(0..data.train.len()).collect();
            data.train.gather(&rows)
        } else {
            data.train.clone()
        };
        let data = Prepared { train, ..data };
        fit_sharded(comm, data, batch)
    });
    let errors: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap_err().to_string())
        .collect();
    for e in &errors {
        assert!(
            e.contains("training rows, but its shard") || e.contains("of 2 failed"),
            "{e}"
        );
    }
    assert!(errors[1].contains("rank 1 holds"), "{}", errors[1]);
    // A label no output unit has, in rank 0's rows only.
    let results = on_ranks(&spec, 32, 2, |comm, mut data, batch| {
        if comm.rank() == 0 {
            data.train.labels.data_mut()[0] = 12.0;
        }
        fit_sharded(comm, data, batch)
    });
    let errors: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap_err().to_string())
        .collect();
    assert!(errors[0].contains("label 12"), "{}", errors[0]);
    assert!(errors[1].contains("rank 0 of 2 failed"), "{}", errors[1]);
}
