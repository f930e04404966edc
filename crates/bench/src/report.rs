//! `--report FILE.svg`: one SVG with two charts — the latency distribution
//! (latency against percentile, on a "nines" axis so the tail is visible)
//! and throughput over time (messages sent and delivered per second, or
//! registrations per second for the connection workloads).
//!
//! Drawing only: every figure comes from the run's [`Summary`] and
//! latency histogram; nothing is measured here. Latency is in
//! milliseconds with a tick at 1, 2 and 5 of each decade, and the
//! percentile axis has one labelled tick per nine (p90, p99, p99.9...).

use std::path::Path;

use plotters::prelude::*;

use super::Summary;
use super::stats::Hist;

/// Percentiles drawn, as "nines": x = -log10(1 - q); y in milliseconds.
fn nines_points(h: &Hist) -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    if h.count() == 0 {
        return pts;
    }
    let mut x = 0.0f64;
    while x <= NINES + 1e-9 {
        let q = 1.0 - 10f64.powf(-x);
        pts.push((x, h.quantile_ns(q.min(1.0)) as f64 / 1e6));
        x += 0.05;
    }
    pts
}

/// The percentile axis runs from the median's side (0) to five nines.
const NINES: f64 = 5.0;

/// The percentile ticks, one per nine: p0, p90, p99, p99.9...
fn nines_ticks() -> Vec<f64> {
    (0..=NINES as u32).map(f64::from).collect()
}

fn nines_label(x: &f64) -> String {
    // x = 1 is p90, 2 is p99, 3 is p99.9: as many decimals as nines past two.
    if *x < 0.5 {
        return "min".into();
    }
    let q = 100.0 * (1.0 - 10f64.powf(-*x));
    let decimals = (x.round() as i64 - 2).clamp(0, 6) as usize;
    format!("p{q:.decimals$}")
}

/// Latency ticks on the log axis: 1, 2 and 5 of each decade between `lo`
/// and `hi` milliseconds.
fn ms_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo && t <= hi {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// A measured latency in milliseconds to three significant digits
/// (0.412, 1.54, 12.3, 1599).
fn ms_value(v: f64) -> String {
    let decimals = match v {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        v if v >= 1.0 => 2,
        _ => 3,
    };
    format!("{v:.decimals$}")
}

/// A latency tick in milliseconds, with no more digits than it needs
/// (0.05, 2, 500, 2000).
fn ms_label(v: &f64) -> String {
    if *v >= 1.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
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
    // A microsecond is the floor: the histogram resolves no finer.
    let floor = 0.001;
    let ymin = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min).max(floor);
    let ymin = if ymin == f64::MAX { floor } else { ymin / 1.5 };
    let ymax = (pts.iter().map(|p| p.1).fold(0.0f64, f64::max) * 1.3).max(ymin * 10.0);
    let ms = |us: f64| us / 1000.0;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!(
                "end-to-end latency: p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms{}",
                ms_value(ms(s.latency.p50_us)),
                ms_value(ms(s.latency.p99_us)),
                ms_value(ms(s.latency.p999_us)),
                ms_value(ms(s.latency.max_us)),
                if s.flood_notices > 0 {
                    " (shaped by the server's flood control)"
                } else {
                    ""
                }
            ),
            ("sans-serif", 16),
        )
        .margin(10)
        // Room for the last percentile's label.
        .margin_right(40)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0f64..NINES,
            (ymin..ymax)
                .log_scale()
                .with_key_points(ms_ticks(ymin, ymax)),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms, log scale)")
        // One per nine: plotters puts ticks on the integers of 0..5.
        .x_labels(nines_ticks().len())
        .x_label_formatter(&nines_label)
        .y_label_formatter(&ms_label)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .draw_series(LineSeries::new(
            pts.into_iter().map(|(x, y)| (x, y.max(ymin))),
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
        .y_desc("messages per second")
        // Whole seconds: plotters picks integers when asked for no more
        // labels than there are seconds.
        .x_labels((secs + 1).min(13))
        .x_label_formatter(&|v: &f64| format!("{v:.0}"))
        .y_label_formatter(&|v: &f64| format!("{v:.0}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_people_write_them() {
        assert_eq!(
            nines_ticks().iter().map(nines_label).collect::<Vec<_>>(),
            ["min", "p90", "p99", "p99.9", "p99.99", "p99.999"]
        );
        assert_eq!(
            ms_ticks(0.03, 120.0),
            [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
        let labels: Vec<String> = [0.05, 0.1, 2.0, 500.0, 2000.0]
            .iter()
            .map(ms_label)
            .collect();
        assert_eq!(labels, ["0.05", "0.1", "2", "500", "2000"]);
    }
}
