//! What the GPT examples report: validation curves, and the plot of validation loss against
//! steps and against wall time (gpt_toy and the burn GPT share it).

use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use std::path::Path;

/// (step, seconds of the step loop so far, validation loss) at each evaluation.
pub type Curve = Vec<(u64, f64, f32)>;

/// A training run's progress bar (the GPT examples): `name`, a bar over `total` steps, a message
/// the loop updates, the ETA.
pub fn progress_bar(name: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>13} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    bar
}

/// The last validation loss of a curve (NaN when empty).
pub fn final_loss(curve: &Curve) -> f32 {
    curve.last().map_or(f32::NAN, |c| c.2)
}

/// The first step whose validation loss is at most `target`, or "—".
pub fn steps_to(curve: &Curve, target: f32) -> String {
    curve
        .iter()
        .find(|c| c.2 <= target)
        .map_or("—".to_string(), |c| c.0.to_string())
}

/// A plot that could not be drawn.
#[derive(Debug)]
pub struct PlotError(pub String);

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plot: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError(e.to_string())
    }
}

/// Draws validation loss against steps (left) and wall time (right) for every run into a PNG;
/// `Ok(Some(note))` when no font was found (nothing drawn), `Ok(None)` when written.
pub fn plot_validation(
    path: &Path,
    runs: &[(&str, &Curve)],
    title: &str,
) -> Result<Option<String>, PlotError> {
    let font = std::env::var("WGOPT_FONT")
        .unwrap_or_else(|_| "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into());
    let bytes = match std::fs::read(&font) {
        Ok(b) => Box::leak(b.into_boxed_slice()),
        Err(e) => {
            return Ok(Some(format!(
                "no plot: font {font} unreadable ({e}); set WGOPT_FONT to a .ttf file"
            )))
        }
    };
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| PlotError(format!("{font} is not a usable font")))?;
    let root = BitMapBackend::new(path, (1300, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(36);
    top.titled(title, ("sans-serif", 20))?;
    let panels = bottom.split_evenly((1, 2));
    let finite = |v: f32| v.is_finite();
    let ymin = runs
        .iter()
        .flat_map(|r| r.1.iter().map(|c| c.2))
        .filter(|v| finite(*v))
        .fold(f32::MAX, f32::min) as f64;
    let ymax = runs
        .iter()
        .flat_map(|r| r.1.iter().map(|c| c.2))
        .filter(|v| finite(*v))
        .fold(f32::MIN, f32::max) as f64;
    for (i, panel) in panels.iter().enumerate() {
        let x_of = |c: &(u64, f64, f32)| if i == 0 { c.0 as f64 } else { c.1 };
        let xmax = runs
            .iter()
            .flat_map(|r| r.1.iter().map(x_of))
            .fold(1e-9, f64::max);
        let axis = if i == 0 {
            "steps"
        } else {
            "seconds (step loop, without evaluation)"
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "validation loss vs {}",
                    if i == 0 { "steps" } else { "wall time" }
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..xmax * 1.02, (ymin - 0.05)..(ymax + 0.05))?;
        chart
            .configure_mesh()
            .x_desc(axis)
            .y_desc("cross-entropy (nats)")
            .draw()?;
        for (k, r) in runs.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let pts: Vec<(f64, f64)> =
                r.1.iter()
                    .filter(|c| finite(c.2))
                    .map(|c| (x_of(c), c.2 as f64))
                    .collect();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                .label(r.0.to_string())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(None)
}

/// One run's validation curve drawn into `path` (a line saying where, or why not), and an
/// error when the loss did not fall from its first to its last point.
pub fn plot_single(path: &Path, label: &str, curve: &Curve, title: &str) -> Result<String, String> {
    let note =
        match plot_validation(path, &[(label, curve)], title).map_err(|e| format!("{e:?}"))? {
            Some(note) => note,
            None => format!("wrote {}", path.display()),
        };
    let (first, last) = (curve.first().map_or(f32::NAN, |c| c.2), final_loss(curve));
    if last.is_nan() || last >= first {
        return Err(format!(
            "validation loss did not fall ({first:.4} → {last:.4})"
        ));
    }
    Ok(note)
}
