//! Saving and resuming a [`Trainer`]: the model's parameters, wgopt's optimizer checkpoint and
//! `trainer.json`, the manifest written last that ties them together.

use super::{TrainConfig, Trainer};
use crate::data::Corpus;
use crate::error::{Error, Result};
use crate::model::param_specs;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::path::Path;
use wgopt::Engine;

#[derive(Serialize, Deserialize)]
struct TrainerFile {
    config: TrainConfig,
    step: u64,
    vocab: String,
    /// The manifest: CRC-32 of each checkpoint file this one belongs with. `trainer.json` is
    /// written last, so a save that failed midway, or files from different saves, do not
    /// match it and the resume is refused.
    files: std::collections::BTreeMap<String, String>,
    /// CRC-32 of this file's other fields (as compact JSON), so an edited or damaged
    /// trainer.json is refused too.
    #[serde(default)]
    checksum: String,
}

impl TrainerFile {
    fn own_checksum(&self) -> Result<String> {
        // Through a JSON value, so the text form is the same whether it came from the struct
        // or from the file.
        let body = (&self.config, self.step, &self.vocab, &self.files);
        let json = serde_json::to_value(body)
            .and_then(|v| serde_json::to_vec(&v))
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(wgopt::scheduler::files::checksum(&json))
    }
}

/// The checkpoint files `trainer.json` names, in the order they are written.
const CHECKPOINT_FILES: [&str; 2] = ["model.safetensors", "optimizer.safetensors"];

impl Trainer {
    /// Writes `dir/model.safetensors` (the parameters, GPT-2 names), `dir/optimizer.safetensors`
    /// (wgopt's optimizer checkpoint) and `dir/trainer.json` (config, step, vocabulary).
    pub fn save(&mut self, dir: &Path) -> Result<()> {
        self.pull()?;
        std::fs::create_dir_all(dir)?;
        let named = param_specs(&self.cfg.model);
        let bytes: Vec<&[u8]> = self
            .model
            .params
            .iter()
            .map(|p| bytemuck::cast_slice(p))
            .collect();
        let views = named
            .iter()
            .zip(&bytes)
            .map(|((n, s), b)| {
                TensorView::new(Dtype::F32, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| ckpt_err(dir, e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut meta = std::collections::HashMap::new();
        wgopt::scheduler::files::seal(
            &mut meta,
            named
                .iter()
                .map(|(n, _)| n.as_str())
                .zip(bytes.iter().copied()),
        );
        let model =
            safetensors::serialize(views, Some(meta)).map_err(|e| ckpt_err(dir, e.to_string()))?;
        let opt = self.driver.optimizer().save(&self.params)?;
        let mut files = std::collections::BTreeMap::new();
        for (name, data) in CHECKPOINT_FILES.iter().zip([&model, &opt]) {
            wgopt::scheduler::files::write_atomic(&dir.join(name), data)?;
            files.insert(name.to_string(), wgopt::scheduler::files::checksum(data));
        }
        let mut meta = TrainerFile {
            config: self.cfg.clone(),
            step: self.step,
            vocab: self.vocab.clone(),
            files,
            checksum: String::new(),
        };
        meta.checksum = meta.own_checksum()?;
        let json = serde_json::to_string_pretty(&meta).map_err(|e| ckpt_err(dir, e.to_string()))?;
        wgopt::scheduler::files::write_atomic(&dir.join("trainer.json"), json.as_bytes())?;
        Ok(())
    }

    /// Continues a run saved by [`Trainer::save`]; the corpus must have the same vocabulary.
    /// Steps after a resume are identical to those of the uninterrupted run.
    pub fn resume(engine: &Engine, corpus: &Corpus, dir: &Path) -> Result<Trainer> {
        let read =
            |f: &str| std::fs::read(dir.join(f)).map_err(|e| ckpt_err(dir, format!("{f}: {e}")));
        let meta: TrainerFile = serde_json::from_slice(&read("trainer.json")?)
            .map_err(|e| ckpt_err(dir, format!("trainer.json: {e}")))?;
        if meta.own_checksum()? != meta.checksum {
            return Err(ckpt_err(
                dir,
                "trainer.json does not match its checksum (edited or damaged); refusing to resume"
                    .into(),
            ));
        }
        let mut contents = Vec::with_capacity(CHECKPOINT_FILES.len());
        for name in CHECKPOINT_FILES {
            let data = read(name)?;
            let want = meta.files.get(name).ok_or_else(|| {
                ckpt_err(dir, format!("trainer.json's manifest does not name {name}"))
            })?;
            let got = wgopt::scheduler::files::checksum(&data);
            if *want != got {
                return Err(ckpt_err(
                    dir,
                    format!(
                        "{name} does not match trainer.json's manifest (checksum {got}, \
                         expected {want}): a torn or mixed checkpoint (files from different \
                         saves, or a save that failed midway); refusing to resume"
                    ),
                ));
            }
            contents.push(data);
        }
        let opt = contents.pop().unwrap_or_default();
        let model_bytes = contents.pop().unwrap_or_default();
        wgopt::scheduler::files::verify_sealed(&model_bytes)
            .map_err(|e| ckpt_err(dir, format!("model.safetensors: {e}")))?;
        let vocab: String = corpus.chars.iter().collect();
        if meta.vocab != vocab {
            return Err(ckpt_err(
                dir,
                "the data's vocabulary differs from the checkpoint's".into(),
            ));
        }
        let mut tr = Trainer::new(engine, corpus, meta.config)?;
        let st = SafeTensors::deserialize(&model_bytes)
            .map_err(|e| ckpt_err(dir, format!("model.safetensors: {e}")))?;
        for ((name, shape), dst) in param_specs(&tr.cfg.model)
            .iter()
            .zip(tr.model.params.iter_mut())
        {
            let view = st
                .tensor(name)
                .map_err(|e| ckpt_err(dir, format!("{name}: {e}")))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
                return Err(ckpt_err(
                    dir,
                    format!(
                        "{name}: expected f32 {shape:?}, found {:?} {:?}",
                        view.dtype(),
                        view.shape()
                    ),
                ));
            }
            for (d, c) in dst.iter_mut().zip(view.data().chunks_exact(4)) {
                *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        for ((name, _), p) in param_specs(&tr.cfg.model).iter().zip(&tr.model.params) {
            tr.params.write_param(name, p)?;
        }
        tr.driver.optimizer().load(&tr.params, &opt)?;
        tr.step = meta.step;
        tr.host_fresh = true;
        Ok(tr)
    }
}

fn ckpt_err(dir: &Path, why: String) -> Error {
    Error::Checkpoint {
        path: dir.to_path_buf(),
        why,
    }
}
