//! Per-tensor optimizer state (moments, accumulators) and its export for checkpoints.

/// An optimizer's full state: the step count, scalar state (Nadam's momentum product) and every
/// per-tensor buffer, named `"{slot}.{buffer}"` (`"3.m"`). Enough to resume bit for bit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    /// Steps taken.
    pub iterations: u64,
    /// Named scalars.
    pub scalars: Vec<(String, f64)>,
    /// Named per-tensor buffers.
    pub buffers: Vec<(String, Vec<f32>)>,
}

/// Buffers per parameter slot, created (filled with their initial values) on a slot's first
/// update and reused afterwards.
#[derive(Clone, Debug)]
pub(crate) struct Slots {
    names: Vec<&'static str>,
    initial: Vec<f32>,
    per_slot: Vec<Vec<Vec<f32>>>,
}

impl Slots {
    /// Buffers called `names`, starting at `initial` (one value per name).
    pub(crate) fn new(names: &[(&'static str, f32)]) -> Self {
        Slots {
            names: names.iter().map(|n| n.0).collect(),
            initial: names.iter().map(|n| n.1).collect(),
            per_slot: Vec::new(),
        }
    }

    /// The buffers of `slot`, each `len` long.
    pub(crate) fn get(&mut self, slot: usize, len: usize) -> &mut [Vec<f32>] {
        if self.per_slot.len() <= slot {
            self.per_slot.resize_with(slot + 1, Vec::new);
        }
        let buffers = &mut self.per_slot[slot];
        if buffers.first().map(Vec::len) != Some(len) {
            *buffers = self.initial.iter().map(|&v| vec![v; len]).collect();
        }
        buffers
    }

    /// The full state of an optimizer whose only state is these buffers and a step count.
    pub(crate) fn state(&self, iterations: u64) -> OptimizerState {
        let mut state = OptimizerState {
            iterations,
            ..Default::default()
        };
        self.export(&mut state.buffers);
        state
    }

    /// Appends every buffer to `out` as `("{slot}.{name}", values)`.
    pub(crate) fn export(&self, out: &mut Vec<(String, Vec<f32>)>) {
        for (slot, buffers) in self.per_slot.iter().enumerate() {
            for (name, buffer) in self.names.iter().zip(buffers) {
                out.push((format!("{slot}.{name}"), buffer.clone()));
            }
        }
    }

    /// Restores buffers exported by [`Slots::export`].
    pub(crate) fn import(&mut self, buffers: &[(String, Vec<f32>)]) -> crate::Result<()> {
        self.per_slot.clear();
        for (key, values) in buffers {
            let bad =
                || crate::Error::Config(format!("optimizer state: unexpected buffer `{key}`"));
            let (slot, name) = key.split_once('.').ok_or_else(bad)?;
            let slot: usize = slot.parse().map_err(|_| bad())?;
            let index = self.names.iter().position(|n| *n == name).ok_or_else(bad)?;
            if slot > 1 << 20 {
                return Err(bad());
            }
            if self.per_slot.len() <= slot {
                self.per_slot.resize_with(slot + 1, Vec::new);
            }
            let entry = &mut self.per_slot[slot];
            if entry.is_empty() {
                *entry = vec![Vec::new(); self.names.len()];
            }
            entry[index] = values.clone();
        }
        for (slot, buffers) in self.per_slot.iter().enumerate() {
            if let Some(first) = buffers.first() {
                if buffers.iter().any(|b| b.len() != first.len()) {
                    return Err(crate::Error::Config(format!(
                        "optimizer state: buffers of slot {slot} are missing or differ in length"
                    )));
                }
            }
        }
        Ok(())
    }
}
