//! The step recorder: every dispatch of a step goes into one command encoder and one compute
//! pass, then one `queue.submit`. Dispatches are collected as (pipeline, bind group, grid)
//! triples whose objects were all created beforehand, so recording allocates nothing new on the
//! GPU; the recorder's own vectors keep their capacity from step to step.
//!
//! With timing on (needs TIMESTAMP_QUERY) each dispatch gets its own pass with begin/end
//! timestamps, resolved into a buffer that is read only when the caller asks.

use crate::params::{ParamSet, PendingCopy};
use crate::{Engine, Error, Result};

/// One recorded kernel launch.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub label: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub workgroups: [u32; 3],
}

struct Timer {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    capacity: u32,
    labels: Vec<&'static str>,
    period_ns: f64,
}

/// The most dispatches one timed step can hold: each takes two timestamps and wgpu caps a query
/// set at `QUERY_SET_MAX_QUERIES`.
pub const MAX_TIMED_DISPATCHES: u32 = wgpu::QUERY_SET_MAX_QUERIES / 2;

/// Collects a step's dispatches and submits them at once.
#[derive(Default)]
pub struct StepRecorder {
    dispatches: Vec<Dispatch>,
    copies: Vec<PendingCopy>,
    copies_after: Vec<PendingCopy>,
    timer: Option<Timer>,
    last_dispatches: usize,
}

impl std::fmt::Debug for StepRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepRecorder")
            .field("pending", &self.dispatches.len())
            .field("timing", &self.timer.is_some())
            .finish()
    }
}

impl StepRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Times every dispatch of the following steps (at most `max_dispatches` per step, itself
    /// at most [`MAX_TIMED_DISPATCHES`]).
    pub fn enable_timing(&mut self, engine: &Engine, max_dispatches: u32) -> Result<()> {
        engine.require_features(wgpu::Features::TIMESTAMP_QUERY)?;
        if max_dispatches > MAX_TIMED_DISPATCHES {
            return Err(Error::OverLimit {
                what: "timed dispatches per step".into(),
                size: max_dispatches as u64,
                limit: MAX_TIMED_DISPATCHES as u64,
                unit: "dispatches",
            });
        }
        let count = 2 * max_dispatches.max(1);
        let queries = engine.device().create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("wgopt timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let bytes = count as u64 * 8;
        let resolve = engine.create_buffer(
            "wgopt timestamp resolve",
            bytes,
            wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        );
        let readback = engine.create_buffer(
            "wgopt timestamp readback",
            bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        self.timer = Some(Timer {
            queries,
            resolve,
            readback,
            capacity: max_dispatches.max(1),
            labels: Vec::with_capacity(max_dispatches as usize),
            period_ns: engine.queue().get_timestamp_period() as f64,
        });
        Ok(())
    }

    /// Adds a dispatch to the current step.
    pub fn push(&mut self, d: Dispatch) {
        self.dispatches.push(d);
    }

    /// Moves the parameter set's pending copies into this step: copies into the arenas run
    /// first, copies out of the parameter arena last.
    pub fn take_copies(&mut self, params: &mut ParamSet) {
        params.drain_pending(&mut self.copies, &mut self.copies_after);
    }

    /// Dispatches in the last submitted step.
    pub fn last_dispatch_count(&self) -> usize {
        self.last_dispatches
    }

    /// Encodes everything recorded since the last submit and submits it once. A step over the
    /// timer's capacity is refused before anything is encoded, and its recorded work dropped, so
    /// the next step does not replay it.
    pub fn submit(&mut self, engine: &Engine) -> Result<wgpu::SubmissionIndex> {
        let n = self.dispatches.len();
        if let Some(t) = self.timer.as_ref().filter(|t| n as u32 > t.capacity) {
            let limit = t.capacity as u64;
            self.dispatches.clear();
            self.copies.clear();
            self.copies_after.clear();
            return Err(Error::OverLimit {
                what: format!("{n} timed dispatches"),
                size: n as u64,
                limit,
                unit: "dispatches",
            });
        }
        let mut enc = engine
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("wgopt step"),
            });
        for c in self.copies.drain(..) {
            enc.copy_buffer_to_buffer(&c.src, c.src_offset, &c.dst, c.dst_offset, c.size);
            engine.count_device_copy(c.size);
        }
        match &mut self.timer {
            None => {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("wgopt step"),
                    timestamp_writes: None,
                });
                for d in &self.dispatches {
                    pass.set_pipeline(&d.pipeline);
                    pass.set_bind_group(0, &d.bind_group, &[]);
                    let [x, y, z] = d.workgroups;
                    pass.dispatch_workgroups(x, y, z);
                }
            }
            Some(t) => {
                t.labels.clear();
                for (i, d) in self.dispatches.iter().enumerate() {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(d.label),
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: &t.queries,
                            beginning_of_pass_write_index: Some(2 * i as u32),
                            end_of_pass_write_index: Some(2 * i as u32 + 1),
                        }),
                    });
                    pass.set_pipeline(&d.pipeline);
                    pass.set_bind_group(0, &d.bind_group, &[]);
                    let [x, y, z] = d.workgroups;
                    pass.dispatch_workgroups(x, y, z);
                    t.labels.push(d.label);
                }
                if n > 0 {
                    enc.resolve_query_set(&t.queries, 0..2 * n as u32, &t.resolve, 0);
                    enc.copy_buffer_to_buffer(&t.resolve, 0, &t.readback, 0, 16 * n as u64);
                }
            }
        }
        for c in self.copies_after.drain(..) {
            enc.copy_buffer_to_buffer(&c.src, c.src_offset, &c.dst, c.dst_offset, c.size);
            engine.count_device_copy(c.size);
        }
        self.dispatches.clear();
        self.last_dispatches = n;
        let index = engine.queue().submit([enc.finish()]);
        engine.count_submit();
        engine.check_device()?;
        Ok(index)
    }

    /// GPU time of each dispatch of the last step, in nanoseconds (waits for the GPU).
    pub fn read_timings(&self, engine: &Engine) -> Result<Vec<(&'static str, f64)>> {
        let t = self.timer.as_ref().ok_or_else(|| Error::MissingFeature {
            adapter: engine.adapter().name.clone(),
            missing: "timing was not enabled on this recorder".into(),
        })?;
        let n = t.labels.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let slice = t.readback.slice(0..16 * n as u64);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        engine.wait()?;
        rx.recv().map_err(|e| Error::Readback(e.to_string()))??;
        let stamps: Vec<u64> = bytemuck::pod_collect_to_vec(&slice.get_mapped_range()?);
        t.readback.unmap();
        engine.count_readback(16 * n as u64);
        Ok(t.labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let dt = stamps[2 * i + 1].saturating_sub(stamps[2 * i]);
                (*l, dt as f64 * t.period_ns)
            })
            .collect())
    }
}
