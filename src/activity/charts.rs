//! The activity charts, drawn on the server with `plotters` as SVG: the page shows them without
//! JavaScript, and the browser sets their text (plotters' SVG output names a font family and
//! leaves the rendering to it, so no font files are needed here).

use chrono::{DateTime, Utc};
use plotters::prelude::*;

use super::{CallStatus, Volume, histogram::Histogram};

const WIDTH: u32 = 960;
const HEIGHT: u32 = 220;
const AXIS: RGBColor = RGBColor(100, 116, 139);
const GRID: RGBColor = RGBColor(226, 232, 240);

/// The colour of a status in every chart and legend.
pub fn status_color(status: CallStatus) -> RGBColor {
    match status {
        CallStatus::Success => RGBColor(22, 163, 74),
        CallStatus::Error => RGBColor(220, 38, 38),
        CallStatus::PermissionDenied => RGBColor(217, 119, 6),
        CallStatus::Timeout => RGBColor(124, 58, 237),
        CallStatus::InProgress => RGBColor(37, 99, 235),
    }
}

/// `120` → `2 minutes`, `3600` → `hour`.
pub fn duration_label(seconds: i64) -> String {
    match seconds {
        86_400 => "day".to_owned(),
        3_600 => "hour".to_owned(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

fn render(
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> DrawResult,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        if let Err(error) = draw(&root).and_then(|()| root.present().map_err(Into::into)) {
            tracing::warn!(%error, "drawing a chart failed");
        }
    }
    svg
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Calls per bar, stacked by status in the order of [`CallStatus::ALL`].
pub fn volume(volume: &Volume) -> String {
    let bars = volume.buckets.len().max(1);
    let top = volume
        .buckets
        .iter()
        .map(|b| b.counts.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(4);
    let daily = volume.bucket_seconds >= 86_400;
    let starts: Vec<DateTime<Utc>> = volume.buckets.iter().map(|b| b.start).collect();
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..bars as f64, 0i64..top + top / 10)?;
        let label = |x: &f64| {
            let i = x.floor().max(0.0) as usize;
            starts.get(i).map_or_else(String::new, |start| {
                if daily {
                    start.format("%b %-d").to_string()
                } else {
                    start.format("%H:%M").to_string()
                }
            })
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.min(8))
            .x_label_formatter(&label)
            .y_labels(5)
            .label_style(("sans-serif", 12).into_font().color(&AXIS))
            .axis_style(AXIS.mix(0.6))
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .draw()?;
        let mut bars = Vec::new();
        for (i, bucket) in volume.buckets.iter().enumerate() {
            let mut base = 0;
            for (status, count) in CallStatus::ALL.into_iter().zip(bucket.counts) {
                if count > 0 {
                    let x = i as f64;
                    bars.push(Rectangle::new(
                        [(x + 0.12, base), (x + 0.88, base + count)],
                        status_color(status).filled(),
                    ));
                    base += count;
                }
            }
        }
        chart.draw_series(bars)?;
        Ok(())
    })
}

/// Lower bounds of the latency chart's bars: under 1 ms, then each power of two.
fn latency_bins(histogram: &Histogram) -> Vec<(f64, i64)> {
    let mut bins: Vec<(f64, i64)> = Vec::new();
    for (low, _high, count) in histogram.buckets() {
        let bin_low = if low < 1.0 {
            0.0
        } else {
            2f64.powi(low.log2().floor() as i32)
        };
        match bins.last_mut() {
            Some((l, n)) if *l == bin_low => *n += count,
            _ => bins.push((bin_low, count)),
        }
    }
    let first = bins.iter().position(|(_, n)| *n > 0);
    let last = bins.iter().rposition(|(_, n)| *n > 0);
    match (first, last) {
        (Some(first), Some(last)) => bins[first..=last].to_vec(),
        _ => Vec::new(),
    }
}

fn ms_label(ms: f64) -> String {
    if ms >= 60_000.0 {
        format!("{:.0} min", ms / 60_000.0)
    } else if ms >= 1_000.0 {
        format!("{} s", (ms / 1_000.0 * 10.0).round() / 10.0)
    } else {
        format!("{ms:.0} ms")
    }
}

/// How many finished calls took how long: one bar per doubling of latency.
pub fn latency(histogram: &Histogram) -> String {
    let bins = latency_bins(histogram);
    let top = bins.iter().map(|(_, n)| *n).max().unwrap_or(0).max(4);
    let count = bins.len().max(1);
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..count as f64, 0i64..top + top / 10)?;
        let label = |x: &f64| {
            bins.get(x.floor().max(0.0) as usize)
                .map_or_else(String::new, |(low, _)| format!("≥{}", ms_label(*low)))
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(count.min(12))
            .x_label_formatter(&label)
            .y_labels(5)
            .label_style(("sans-serif", 12).into_font().color(&AXIS))
            .axis_style(AXIS.mix(0.6))
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .draw()?;
        chart.draw_series(bins.iter().enumerate().map(|(i, (_, n))| {
            let x = i as f64;
            Rectangle::new(
                [(x + 0.1, 0), (x + 0.9, *n)],
                RGBColor(71, 85, 105).filled(),
            )
        }))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::VolumeBucket;

    #[test]
    fn a_volume_chart_has_a_bar_per_status_in_each_busy_bucket() {
        let start: DateTime<Utc> = "2026-11-01T10:00:00Z".parse().unwrap();
        let data = Volume {
            bucket_seconds: 3600,
            buckets: vec![
                VolumeBucket {
                    start,
                    counts: [5, 2, 0, 0, 0],
                },
                VolumeBucket {
                    start: start + chrono::TimeDelta::hours(1),
                    counts: [0; 5],
                },
                VolumeBucket {
                    start: start + chrono::TimeDelta::hours(2),
                    counts: [1, 0, 1, 1, 1],
                },
            ],
        };
        let svg = volume(&data);
        assert!(svg.starts_with("<svg"), "{svg}");
        let fill = |c: RGBColor| format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
        assert_eq!(
            svg.matches(&fill(status_color(CallStatus::Success)))
                .count(),
            2,
            "{svg}"
        );
        assert_eq!(
            svg.matches(&fill(status_color(CallStatus::Timeout)))
                .count(),
            1
        );
        assert!(svg.contains("10:00"), "time labels: {svg}");
    }

    #[test]
    fn the_latency_chart_spans_the_recorded_latencies_in_doublings() {
        let mut histogram = Histogram::default();
        for ms in [3, 3, 5, 40, 2_000] {
            histogram.record(ms);
        }
        let bins = latency_bins(&histogram);
        assert_eq!(bins.first(), Some(&(2.0, 2)));
        assert_eq!(bins.last(), Some(&(1024.0, 1)));
        assert_eq!(bins.iter().map(|(_, n)| n).sum::<i64>(), 5);
        assert!(latency(&histogram).contains("≥2 ms"));
    }
}
