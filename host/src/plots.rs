//! Precision–recall plots for the report and score histograms for `ugrn infer`, as SVG and PNG. Text is drawn with the DejaVu Sans
//! font embedded by the `dejavu` crate, so plots look the same on machines without fonts.
use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        // DejaVu Sans is a valid TrueType font; failure here would be a broken dependency.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// One method's curve: (recall, precision) points.
pub struct Series<'a> {
    /// The legend's text.
    pub name: String,
    pub points: &'a [(f64, f64)],
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    series: &[Series<'_>],
    chance: Option<f64>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |err: DrawingAreaErrorKind<DB::ErrorType>| err.to_string();
    area.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)
        .map_err(e)?;
    chart.configure_mesh().x_desc("recall").y_desc("precision").draw().map_err(e)?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(e)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    if let Some(chance) = chance {
        let style = BLACK.mix(0.6).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new([(0.0, chance), (1.0, chance)], 6, 4, style))
            .map_err(e)?
            .label(format!("chance {chance:.3}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e)?;
    area.present().map_err(e)
}

/// Writes `<stem>.svg` and `<stem>.png`.
/// Writes `<stem>.svg` and `<stem>.png`: the curves, and `chance` (a random scorer's precision:
/// the set's share of positives) as a dashed line.
pub fn precision_recall(stem: &Path, title: &str, series: &[Series<'_>], chance: Option<f64>) -> Result<(), String> {
    register_font();
    let svg = stem.with_extension("svg");
    draw(SVGBackend::new(&svg, (720, 540)).into_drawing_area(), title, series, chance)?;
    let png = stem.with_extension("png");
    draw(BitMapBackend::new(&png, (720, 540)).into_drawing_area(), title, series, chance)
}

fn draw_histogram<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_desc: &str,
    counts: &[usize],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |err: DrawingAreaErrorKind<DB::ErrorType>| err.to_string();
    area.fill(&WHITE).map_err(e)?;
    let bins = counts.len();
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..1f64, 0usize..top + top / 20 + 1)
        .map_err(e)?;
    chart.configure_mesh().x_desc(x_desc).y_desc("pairs").draw().map_err(e)?;
    let width = 1.0 / bins as f64;
    chart
        .draw_series(counts.iter().enumerate().map(|(i, &n)| {
            let x0 = i as f64 * width;
            Rectangle::new([(x0, 0), (x0 + width, n)], COLORS[0].mix(0.8).filled())
        }))
        .map_err(e)?;
    area.present().map_err(e)
}

/// Writes `<stem>.svg` and `<stem>.png`: a histogram over [0, 1] of equal-width bins, `counts`
/// per bin (counted by the caller, who may stream the values).
pub fn histogram(stem: &Path, title: &str, x_desc: &str, counts: &[usize]) -> Result<(), String> {
    register_font();
    let svg = stem.with_extension("svg");
    draw_histogram(SVGBackend::new(&svg, (720, 480)).into_drawing_area(), title, x_desc, counts)?;
    let png = stem.with_extension("png");
    draw_histogram(BitMapBackend::new(&png, (720, 480)).into_drawing_area(), title, x_desc, counts)
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_svg_and_png_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("pr");
        let a = [(0.0, 1.0), (0.5, 0.8), (1.0, 0.5)];
        let b = [(0.0, 0.5), (1.0, 0.5)];
        super::precision_recall(
            &stem,
            "STRING / mDC",
            &[
                super::Series { name: "GDT (AUPRC 0.812)".into(), points: &a },
                super::Series { name: "VVP".into(), points: &b },
            ],
            Some(0.25),
        )
        .unwrap();
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        assert!(svg.contains("STRING / mDC") && svg.contains("GDT (AUPRC 0.812)") && svg.contains("recall"), "{svg}");
        assert!(svg.contains("chance 0.250"), "{svg}");
        let png = std::fs::read(stem.with_extension("png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(png.len() > 5_000, "a 720×540 plot with text, got {} bytes", png.len());
    }
}
