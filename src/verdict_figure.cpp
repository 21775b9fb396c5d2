#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "flowsense/verdict/figure.hpp"

namespace flowsense {
namespace {

constexpr double kWidth = 900, kPanelHeight = 330, kTitleHeight = 30;
constexpr double kLeft = 78, kRight = 300, kTop = 34, kBottom = 46;
constexpr std::size_t kMaxLabel = 44;
const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

/// Legend labels longer than the legend column are cut with "...".
std::string legend(const std::string& s) {
  return s.size() <= kMaxLabel ? s : s.substr(0, kMaxLabel - 3) + "...";
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string tick_label(double v) {
  char buf[32];
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e-3 && a < 1e4)
    std::snprintf(buf, sizeof buf, "%g", v);
  else
    std::snprintf(buf, sizeof buf, "%.0e", v);
  return buf;
}

bool usable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double map(double v, double p0, double p1) const {
    const double a = log ? std::log10(v) : v;
    const double l = log ? std::log10(lo) : lo, h = log ? std::log10(hi) : hi;
    return p0 + (a - l) / (h - l) * (p1 - p0);
  }
  std::vector<double> ticks() const {
    std::vector<double> t;
    if (log) {
      const int a = static_cast<int>(std::floor(std::log10(lo))),
                b = static_cast<int>(std::ceil(std::log10(hi)));
      const int stride = std::max(1, (b - a) / 8);
      for (int e = a; e <= b; e += stride) {
        const double v = std::pow(10.0, e);
        if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12)) t.push_back(v);
      }
    } else {
      const double span = hi - lo;
      const double raw = span / 6;
      const double mag = std::pow(10.0, std::floor(std::log10(raw)));
      double step = mag;
      for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * mag >= raw) {
          step = m * mag;
          break;
        }
      for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step)
        t.push_back(std::fabs(v) < 1e-12 * span ? 0.0 : v);
    }
    return t;
  }
};

Axis make_axis(std::vector<double> values, bool log, double fixed_lo, double fixed_hi) {
  Axis axis;
  axis.log = log;
  if (std::isfinite(fixed_lo) && std::isfinite(fixed_hi) && fixed_lo < fixed_hi &&
      (!log || fixed_lo > 0)) {
    axis.lo = fixed_lo;
    axis.hi = fixed_hi;
    return axis;
  }
  values.erase(std::remove_if(values.begin(), values.end(), [&](double v) { return !usable(v, log); }),
               values.end());
  if (values.empty()) {
    axis.lo = log ? 0.1 : 0.0;
    axis.hi = log ? 10.0 : 1.0;
    return axis;
  }
  auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  double lo = *mn, hi = *mx;
  if (log) {
    lo = std::pow(10.0, std::floor(std::log10(lo)));
    hi = std::pow(10.0, std::ceil(std::log10(hi)));
    if (hi <= lo) hi = lo * 10;
  } else {
    if (hi <= lo) {
      const double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
      lo -= pad;
      hi += pad;
    } else {
      const double pad = 0.05 * (hi - lo);
      lo -= pad;
      hi += pad;
    }
  }
  axis.lo = lo;
  axis.hi = hi;
  return axis;
}

void render_panel(std::ostringstream& svg, const Panel& panel, double y0) {
  std::vector<double> xs, ys;
  for (const auto& s : panel.series) {
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    ys.insert(ys.end(), s.y.begin(), s.y.end());
  }
  for (const auto& l : panel.vlines) xs.push_back(l.value);
  for (const auto& l : panel.hlines) ys.push_back(l.value);
  const Axis ax = make_axis(xs, panel.log_x, std::numeric_limits<double>::quiet_NaN(),
                            std::numeric_limits<double>::quiet_NaN());
  const Axis ay = make_axis(ys, panel.log_y, panel.y_min, panel.y_max);
  const double px0 = kLeft, px1 = kWidth - kRight;
  const double py0 = y0 + kPanelHeight - kBottom, py1 = y0 + kTop;
  const std::string clip = "clip" + std::to_string(static_cast<int>(y0));

  const std::string title = panel.title.size() <= 80 ? panel.title : panel.title.substr(0, 77) + "...";
  svg << "<text x=\"" << num((px0 + px1) / 2) << "\" y=\"" << num(y0 + 20)
      << "\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" << escape(title)
      << "</text>\n";
  svg << "<defs><clipPath id=\"" << clip << "\"><rect x=\"" << num(px0) << "\" y=\"" << num(py1)
      << "\" width=\"" << num(px1 - px0) << "\" height=\"" << num(py0 - py1)
      << "\"/></clipPath></defs>\n";
  svg << "<rect x=\"" << num(px0) << "\" y=\"" << num(py1) << "\" width=\"" << num(px1 - px0)
      << "\" height=\"" << num(py0 - py1) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  for (double t : ax.ticks()) {
    const double x = ax.map(t, px0, px1);
    svg << "<line x1=\"" << num(x) << "\" y1=\"" << num(py0) << "\" x2=\"" << num(x) << "\" y2=\""
        << num(py1) << "\" stroke=\"#e5e5e5\"/>\n";
    svg << "<text x=\"" << num(x) << "\" y=\"" << num(py0 + 16)
        << "\" text-anchor=\"middle\" font-size=\"11\">" << escape(tick_label(t)) << "</text>\n";
  }
  for (double t : ay.ticks()) {
    const double y = ay.map(t, py0, py1);
    svg << "<line x1=\"" << num(px0) << "\" y1=\"" << num(y) << "\" x2=\"" << num(px1) << "\" y2=\""
        << num(y) << "\" stroke=\"#e5e5e5\"/>\n";
    svg << "<text x=\"" << num(px0 - 6) << "\" y=\"" << num(y + 4)
        << "\" text-anchor=\"end\" font-size=\"11\">" << escape(tick_label(t)) << "</text>\n";
  }
  svg << "<text x=\"" << num((px0 + px1) / 2) << "\" y=\"" << num(py0 + 36)
      << "\" text-anchor=\"middle\" font-size=\"12\">" << escape(panel.x_label) << "</text>\n";
  svg << "<text transform=\"translate(" << num(18) << "," << num((py0 + py1) / 2)
      << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" << escape(panel.y_label)
      << "</text>\n";

  svg << "<g clip-path=\"url(#" << clip << ")\">\n";
  for (const auto& l : panel.hlines) {
    if (!usable(l.value, ay.log)) continue;
    const double y = ay.map(l.value, py0, py1);
    svg << "<line x1=\"" << num(px0) << "\" y1=\"" << num(y) << "\" x2=\"" << num(px1) << "\" y2=\""
        << num(y) << "\" stroke=\"#555\" stroke-dasharray=\"6,4\"/>\n";
  }
  for (const auto& l : panel.vlines) {
    if (!usable(l.value, ax.log)) continue;
    const double x = ax.map(l.value, px0, px1);
    svg << "<line x1=\"" << num(x) << "\" y1=\"" << num(py0) << "\" x2=\"" << num(x) << "\" y2=\""
        << num(py1) << "\" stroke=\"#555\" stroke-dasharray=\"2,3\"/>\n";
  }
  std::size_t color = 0;
  for (const auto& s : panel.series) {
    const char* c = kColors[color++ % (sizeof kColors / sizeof kColors[0])];
    const std::size_t n = std::min(s.x.size(), s.y.size());
    if (s.lines) {
      std::ostringstream path;
      bool pen = false;
      for (std::size_t i = 0; i < n; ++i) {
        if (!usable(s.x[i], ax.log) || !usable(s.y[i], ay.log)) {
          pen = false;
          continue;
        }
        path << (pen ? " L" : " M") << num(ax.map(s.x[i], px0, px1)) << ","
             << num(ay.map(s.y[i], py0, py1));
        pen = true;
      }
      if (!path.str().empty())
        svg << "<path d=\"" << path.str() << "\" fill=\"none\" stroke=\"" << c
            << "\" stroke-width=\"1.6\"" << (s.dashed ? " stroke-dasharray=\"5,3\"" : "") << "/>\n";
    }
    if (s.markers) {
      for (std::size_t i = 0; i < n; ++i) {
        if (!usable(s.x[i], ax.log) || !usable(s.y[i], ay.log)) continue;
        svg << "<circle cx=\"" << num(ax.map(s.x[i], px0, px1)) << "\" cy=\""
            << num(ay.map(s.y[i], py0, py1)) << "\" r=\"2.6\" fill=\"" << c << "\"/>\n";
      }
    }
  }
  svg << "</g>\n";

  // Legend (series, then reference lines) to the right of the plot area.
  double ly = py1 + 8;
  color = 0;
  for (const auto& s : panel.series) {
    const char* c = kColors[color++ % (sizeof kColors / sizeof kColors[0])];
    if (s.label.empty()) continue;
    svg << "<line x1=\"" << num(px1 + 10) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(px1 + 30)
        << "\" y2=\"" << num(ly) << "\" stroke=\"" << c << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"5,3\"" : "") << "/>\n";
    if (s.markers) svg << "<circle cx=\"" << num(px1 + 20) << "\" cy=\"" << num(ly) << "\" r=\"2.6\" fill=\"" << c << "\"/>\n";
    svg << "<text x=\"" << num(px1 + 36) << "\" y=\"" << num(ly + 4) << "\" font-size=\"11\">"
        << escape(legend(s.label)) << "</text>\n";
    ly += 16;
  }
  for (const auto& l : panel.hlines) {
    if (l.label.empty()) continue;
    svg << "<line x1=\"" << num(px1 + 10) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(px1 + 30)
        << "\" y2=\"" << num(ly) << "\" stroke=\"#555\" stroke-dasharray=\"6,4\"/>\n";
    svg << "<text x=\"" << num(px1 + 36) << "\" y=\"" << num(ly + 4) << "\" font-size=\"11\">"
        << escape(legend(l.label)) << "</text>\n";
    ly += 16;
  }
  for (const auto& l : panel.vlines) {
    if (l.label.empty()) continue;
    svg << "<line x1=\"" << num(px1 + 20) << "\" y1=\"" << num(ly - 6) << "\" x2=\"" << num(px1 + 20)
        << "\" y2=\"" << num(ly + 6) << "\" stroke=\"#555\" stroke-dasharray=\"2,3\"/>\n";
    svg << "<text x=\"" << num(px1 + 36) << "\" y=\"" << num(ly + 4) << "\" font-size=\"11\">"
        << escape(legend(l.label)) << "</text>\n";
    ly += 16;
  }
}

}  // namespace

std::string render_svg(const Figure& figure) {
  const double height = kTitleHeight + kPanelHeight * static_cast<double>(figure.panels.size());
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(kWidth) << "\" height=\""
      << num(height) << "\" viewBox=\"0 0 " << num(kWidth) << " " << num(height)
      << "\" font-family=\"sans-serif\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg << "<text x=\"" << num(kWidth / 2) << "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">"
      << escape(figure.title) << "</text>\n";
  for (std::size_t i = 0; i < figure.panels.size(); ++i)
    render_panel(svg, figure.panels[i], kTitleHeight + kPanelHeight * static_cast<double>(i));
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace flowsense
