//! The communicator: rsmpi's world communicator with the few collectives data parallelism
//! needs, each counted (bytes a rank sends under the bandwidth-optimal ring algorithm, and
//! host wall time), and the agreement that makes one rank's failure every rank's error.
//!
//! wgpu has no GPU-direct path, so every buffer here is host memory; the callers stage GPU
//! data through it.

use crate::error::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::raw::AsRaw;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::traits::*;
use std::time::Instant;

/// Bytes and seconds spent in collectives, per kind, since the counters were last taken.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Traffic {
    /// Reduce-scatter of gradients: (N−1)/N of the buffer per rank on a ring.
    pub reduce_scatter_bytes: u64,
    /// All-gather of parameters (or of sparse DGC values): (N−1)/N of the result per rank.
    pub all_gather_bytes: u64,
    /// Small all-gathers: the guard's partial sums, agreement words.
    pub control_bytes: u64,
    /// Host wall time inside MPI calls.
    pub mpi_seconds: f64,
}

impl Traffic {
    /// Everything a rank sent.
    pub fn total_bytes(&self) -> u64 {
        self.reduce_scatter_bytes + self.all_gather_bytes + self.control_bytes
    }
}

/// MPI's world: this process's rank among `size`.
pub struct Communicator {
    /// Finalises MPI when dropped; `None` when another owner initialised it.
    _universe: Option<Universe>,
    world: SimpleCommunicator,
    traffic: Traffic,
}

impl Communicator {
    /// Initialises MPI and takes the world communicator. Once per process.
    pub fn world() -> Result<Communicator> {
        let universe = mpi::initialize()
            .ok_or_else(|| Error::Mpi("MPI is already initialised in this process".into()))?;
        let world = universe.world();
        Ok(Communicator {
            _universe: Some(universe),
            world,
            traffic: Traffic::default(),
        })
    }

    pub fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    pub fn size(&self) -> usize {
        self.world.size() as usize
    }

    /// The counters since the last call, reset.
    pub fn take_traffic(&mut self) -> Traffic {
        std::mem::take(&mut self.traffic)
    }

    /// Every rank's `Ok` or the first failing rank's message, the same on every rank. Runs
    /// two small all-gathers when something failed, one otherwise. Call it before any
    /// collective whose arguments depend on a check that may fail on one rank only.
    pub fn agree<T, E: std::fmt::Display>(
        &mut self,
        local: std::result::Result<T, E>,
    ) -> Result<T> {
        let failed = u32::from(local.is_err());
        let flags = self.all_gather_words(failed);
        let Some(rank) = flags.iter().position(|&f| f != 0) else {
            return local.map_err(|_| unreachable_agreement());
        };
        let text = match &local {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        let message = self.all_gather_text(&text).swap_remove(rank);
        Err(Error::Rank {
            rank,
            world: self.size(),
            message,
        })
    }

    /// Checks that every rank passed the same `settings` (what rank 0 passed); otherwise
    /// every rank returns the first differing rank's [`Error::Rank`]. `what` names them.
    pub fn agree_on(&mut self, what: &str, settings: &str) -> Result<()> {
        let all = self.all_gather_text(settings);
        match all.iter().position(|f| *f != all[0]) {
            None => Ok(()),
            Some(rank) => Err(Error::Rank {
                rank,
                world: self.size(),
                message: format!("{what} differ from rank 0's ({} vs {})", all[rank], all[0]),
            }),
        }
    }

    fn all_gather_words(&mut self, word: u32) -> Vec<u32> {
        let t = Instant::now();
        let mut all = vec![0u32; self.size()];
        self.world.all_gather_into(&word, &mut all[..]);
        self.account_control(4, t);
        all
    }

    /// Every rank's string, in rank order.
    pub fn all_gather_text(&mut self, text: &str) -> Vec<String> {
        let lens = self.all_gather_words(text.len() as u32);
        let counts: Vec<i32> = lens.iter().map(|&l| l as i32).collect();
        let displs = displacements(&counts);
        let mut all = vec![0u8; counts.iter().map(|&c| c as usize).sum()];
        let t = Instant::now();
        {
            let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            self.world
                .all_gather_varcount_into(text.as_bytes(), &mut part);
        }
        self.account_control(text.len(), t);
        counts
            .iter()
            .zip(&displs)
            .map(|(&c, &d)| {
                String::from_utf8_lossy(&all[d as usize..(d + c) as usize]).into_owned()
            })
            .collect()
    }

    /// Every rank's pair `(x, y)`, in rank order: the guard's partial sums.
    pub fn all_gather_pairs(&mut self, pair: [f64; 2]) -> Vec<[f64; 2]> {
        let t = Instant::now();
        let mut all = vec![0f64; 2 * self.size()];
        self.world.all_gather_into(&pair[..], &mut all[..]);
        self.account_control(16, t);
        all.chunks_exact(2).map(|c| [c[0], c[1]]).collect()
    }

    /// Sums `send` (laid out as every rank's part in rank order, part r of `counts[r]`
    /// elements) over ranks and leaves part `rank` in `recv`. rsmpi 0.8 offers only the
    /// equal-block form, so this calls `MPI_Reduce_scatter` through its FFI.
    pub fn reduce_scatter_sum(&mut self, send: &[f32], counts: &[i32], recv: &mut [f32]) {
        debug_assert_eq!(
            send.len(),
            counts.iter().map(|&c| c as usize).sum::<usize>()
        );
        debug_assert_eq!(recv.len(), counts[self.rank()] as usize);
        let t = Instant::now();
        // SAFETY: `send` holds Σ counts floats and `recv` counts[rank] (checked by the caller,
        // asserted above in debug builds); the datatype and operation are MPI's float sum and
        // the communicator is live for the call.
        unsafe {
            mpi::ffi::MPI_Reduce_scatter(
                send.as_ptr().cast(),
                recv.as_mut_ptr().cast(),
                counts.as_ptr(),
                f32::equivalent_datatype().as_raw(),
                SystemOperation::sum().as_raw(),
                self.world.as_raw(),
            );
        }
        self.traffic.mpi_seconds += t.elapsed().as_secs_f64();
        self.traffic.reduce_scatter_bytes += ring_bytes(send.len(), self.size());
    }

    /// Gathers every rank's `send` (`counts[r]` elements from rank r) into `recv`, in rank
    /// order, on every rank.
    pub fn all_gather<T: Equivalence>(&mut self, send: &[T], counts: &[i32], recv: &mut [T]) {
        let displs = displacements(counts);
        let t = Instant::now();
        {
            let mut part = PartitionMut::new(recv, counts, &displs[..]);
            self.world.all_gather_varcount_into(send, &mut part);
        }
        self.traffic.mpi_seconds += t.elapsed().as_secs_f64();
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        self.traffic.all_gather_bytes +=
            ring_bytes(total * std::mem::size_of::<T>() / 4, self.size());
    }

    /// Rank 0 receives every rank's bytes (in rank order); the others get `None`.
    pub fn gather_bytes(&mut self, bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
        let lens = self.all_gather_words(bytes.len() as u32);
        let counts: Vec<i32> = lens.iter().map(|&l| l as i32).collect();
        let root = self.world.process_at_rank(0);
        if self.rank() != 0 {
            root.gather_varcount_into(bytes);
            return None;
        }
        let displs = displacements(&counts);
        let mut all = vec![0u8; counts.iter().map(|&c| c as usize).sum()];
        {
            let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            root.gather_varcount_into_root(bytes, &mut part);
        }
        Some(
            counts
                .iter()
                .zip(&displs)
                .map(|(&c, &d)| all[d as usize..(d + c) as usize].to_vec())
                .collect(),
        )
    }

    /// Rank 0's bytes on every rank (`bytes` is ignored elsewhere).
    pub fn broadcast_bytes(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        let root = self.world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        let mut buf = if self.rank() == 0 {
            bytes
        } else {
            vec![0u8; len as usize]
        };
        root.broadcast_into(&mut buf[..]);
        buf
    }

    fn account_control(&mut self, bytes: usize, since: Instant) {
        self.traffic.control_bytes += ring_bytes(bytes.div_ceil(4) * self.size(), self.size());
        self.traffic.mpi_seconds += since.elapsed().as_secs_f64();
    }
}

fn unreachable_agreement() -> Error {
    Error::Mpi("agreement saw no failure but the local call failed".into())
}

/// Prefix sums of `counts`.
pub(crate) fn displacements(counts: &[i32]) -> Vec<i32> {
    counts
        .iter()
        .scan(0i32, |acc, &c| {
            let d = *acc;
            *acc += c;
            Some(d)
        })
        .collect()
}

/// Bytes one rank sends in a ring reduce-scatter or all-gather over `elems` f32s: (N−1)/N.
pub fn ring_bytes(elems: usize, ranks: usize) -> u64 {
    (elems as u64 * 4 * (ranks as u64 - 1)) / ranks as u64
}
