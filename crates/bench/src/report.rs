//! `--report FILE.svg`: one SVG with two charts — the latency distribution
//! (latency against percentile, on a "nines" axis so the tail is visible)
//! and throughput over time (messages sent and delivered per second, or
//! registrations per second for the connection workloads).
//!
//! Drawing only: every figure comes from the run's [`Summary`] and
//! latency histogram; nothing is measured here.

use std::path::Path;

use plotters::prelude::*;

use super::Summary;
use super::stats::Hist;

/// Percentiles drawn, as "nines": x = -log10(1 - q).
fn nines_points(h: &Hist) -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    if h.count() == 0 {
        return pts;
    }
    let mut x = 0.0f64;
    while x <= 5.0 {
        let q = 1.0 - 10f64.powf(-x);
        pts.push((x, h.quantile_ns(q.min(1.0)) as f64 / 1000.0));
        x += 0.05;
    }
    pts
}

fn nines_label(x: &f64) -> String {
    // x = 1 is 90%, 2 is 99%, 3 is 99.9%: as many decimals as nines past two.
    let q = 100.0 * (1.0 - 10f64.powf(-*x));
    let decimals = (x.round() as i64 - 2).clamp(0, 6) as usize;
    format!("{q:.decimals$}%")
}

/// Writes the report.
pub fn write_svg(path: &Path, s: &Summary, latency: &Hist) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1000, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let title = format!(
        "chatroom bench {} over {} to {} — {} clients, {}",
        s.workload, s.proto, s.target, s.clients, s.mode
    );
    let root = root
        .titled(&title, ("sans-serif", 20))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(390);

    // Latency distribution.
    let pts = nines_points(latency);
    let ymax = pts.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!(
                "end-to-end latency (µs): p50 {:.0}, p99 {:.0}, p99.9 {:.0}, max {:.0}",
                s.latency.p50_us, s.latency.p99_us, s.latency.p999_us, s.latency.max_us
            ),
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..5f64, (1f64..ymax.max(2.0)).log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("µs")
        .x_labels(6)
        .x_label_formatter(&nines_label)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .draw_series(LineSeries::new(
            pts.into_iter().map(|(x, y)| (x, y.max(1.0))),
            &BLUE,
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    // Throughput over time.
    let secs = s.sent_series.len().max(s.delivered_series.len()).max(1);
    let peak = s
        .sent_series
        .iter()
        .chain(s.delivered_series.iter())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            format!(
                "per second: sent (red) {:.0}/s, delivered (green) {:.0}/s on average",
                s.sent_per_s, s.deliveries_per_s
            ),
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..secs as f64, 0f64..peak)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("second of the run")
        .y_desc("messages")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (series, color) in [(&s.sent_series, &RED), (&s.delivered_series, &GREEN)] {
        chart
            .draw_series(LineSeries::new(
                series
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (i as f64, n as f64)),
                color,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
