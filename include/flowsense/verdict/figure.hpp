#pragma once
// A verdict's figure: a few stacked panels of line and marker plots, rendered as a
// self-contained SVG by the library itself (no Python or plotting package is needed to
// get a figure with every verdict). Log axes drop non-positive values; non-finite
// values break a line.
#include <string>
#include <vector>

namespace flowsense {

struct Series {
  std::string label;
  std::vector<double> x, y;
  bool lines = true;     ///< connect the points
  bool markers = false;  ///< draw a dot at every point
  bool dashed = false;
};

/// A horizontal or vertical reference line (a tolerance, a radius, a witness time).
struct ReferenceLine {
  double value = 0.0;
  std::string label;
};

struct Panel {
  std::string title;
  std::string x_label, y_label;
  bool log_x = false, log_y = false;
  std::vector<Series> series;
  std::vector<ReferenceLine> hlines, vlines;
  /// Optional fixed y range (used when both are finite and y_min < y_max).
  double y_min = 0.0, y_max = 0.0;
};

struct Figure {
  std::string title;
  std::vector<Panel> panels;
  bool empty() const { return panels.empty(); }
};

/// The SVG text of the figure (width 900 px, 330 px per panel; legend labels cut at 44 characters).
std::string render_svg(const Figure& figure);

}  // namespace flowsense
