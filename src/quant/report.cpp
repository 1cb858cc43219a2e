#include "quant/report.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "effvit/error.h"
#include "quant/quantize.h"

namespace effvit::quant {
namespace {

namespace fs = std::filesystem;

// A Pango layout of one line of sans text at `size` points. With `max_width` (pixels) a longer
// text is shortened in the middle ("/stages/…/attn/Softmax_3"), where long node names differ
// least: their start says the stage, their end the op.
struct TextRun {
  PangoLayout* layout;
  int width = 0, height = 0;
  TextRun(cairo_t* cr, const std::string& s, double size, double max_width) : layout(pango_cairo_create_layout(cr)) {
    PangoFontDescription* font = pango_font_description_from_string(("Sans " + std::to_string(size)).c_str());
    pango_layout_set_font_description(layout, font);
    pango_font_description_free(font);
    pango_layout_set_text(layout, s.c_str(), -1);
    if (max_width > 0) {
      pango_layout_set_width(layout, static_cast<int>(max_width * PANGO_SCALE));
      pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_MIDDLE);
    }
    pango_layout_get_pixel_size(layout, &width, &height);
  }
  ~TextRun() { g_object_unref(layout); }
  TextRun(const TextRun&) = delete;
  TextRun& operator=(const TextRun&) = delete;
};

// One text run anchored at (x, y) by (ax, ay) in [0, 1] of its own extent, optionally rotated 90
// degrees anticlockwise, and shortened in the middle past `max_width` pixels.
void text(cairo_t* cr, const std::string& s, double x, double y, double size, double ax = 0, double ay = 0, bool vertical = false,
          double max_width = 0) {
  const TextRun run(cr, s, size, max_width);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  if (vertical) cairo_rotate(cr, -M_PI / 2);
  cairo_move_to(cr, -ax * run.width, -ay * run.height);
  pango_cairo_show_layout(cr, run.layout);
  cairo_restore(cr);
}

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
  bool inside(const Box& o) const { return x0 >= o.x0 && x1 <= o.x1 && y0 >= o.y0 && y1 <= o.y1; }
};

// Labels for marked points, each placed beside its point where it overlaps no other label and
// stays in `area`: tried right then left of the point, then ever further up and down; a label
// moved off its point gets a leader line to it.
void point_labels(cairo_t* cr, const std::vector<std::pair<std::string, std::pair<double, double>>>& labels, const Box& area, double size,
                  double max_width) {
  std::vector<Box> placed;
  for (const auto& [name, point] : labels) {
    const auto [px, py] = point;
    const TextRun run(cr, name, size, max_width);
    Box best{};
    bool found = false;
    for (int step = 0; step <= 24 && !found; ++step) {
      const double dy = (step % 2 ? 1 : -1) * ((step + 1) / 2) * (run.height + 2.0);
      for (const bool right : {px < (area.x0 + area.x1) / 2, px >= (area.x0 + area.x1) / 2}) {
        const double x = right ? px + 6 : px - 6 - run.width, y = py - run.height / 2.0 + dy;
        const Box box{x, y, x + run.width, y + run.height};
        if (!box.inside(area) || std::any_of(placed.begin(), placed.end(), [&](const Box& b) { return b.overlaps(box); })) continue;
        best = box;
        found = true;
        break;
      }
    }
    if (!found) continue;  // no room left: the point stays marked, unlabelled
    placed.push_back(best);
    if (std::abs(best.y0 + run.height / 2.0 - py) > 1) {
      cairo_save(cr);
      cairo_set_line_width(cr, 0.6);
      cairo_move_to(cr, px, py);
      cairo_line_to(cr, best.x0 > px ? best.x0 - 1 : best.x1 + 1, best.y0 + run.height / 2.0);
      cairo_stroke(cr);
      cairo_restore(cr);
    }
    cairo_move_to(cr, best.x0, best.y0);
    pango_cairo_show_layout(cr, run.layout);
  }
}

// Draws with `paint(cr, width, height)` into PATH.png and PATH.svg.
void draw_both(const std::string& path, int width, int height, const std::function<void(cairo_t*)>& paint) {
  {
    cairo_surface_t* png = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    cairo_t* cr = cairo_create(png);
    paint(cr);
    cairo_destroy(cr);
    const cairo_status_t status = cairo_surface_write_to_png(png, (path + ".png").c_str());
    cairo_surface_destroy(png);
    if (status != CAIRO_STATUS_SUCCESS) throw Error(ErrorKind::invalid_input, path + ".png: cannot write the plot");
  }
  cairo_surface_t* svg = cairo_svg_surface_create((path + ".svg").c_str(), width, height);
  cairo_t* cr = cairo_create(svg);
  paint(cr);
  cairo_destroy(cr);
  cairo_surface_finish(svg);
  const cairo_status_t status = cairo_surface_status(svg);
  cairo_surface_destroy(svg);
  if (status != CAIRO_STATUS_SUCCESS) throw Error(ErrorKind::invalid_input, path + ".svg: cannot write the plot");
}

void background(cairo_t* cr, int width, int height) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_rectangle(cr, 0, 0, width, height);
  cairo_fill(cr);
}

// The node index of the n least similar nodes, least first.
std::vector<size_t> least_similar(const Agreement& a, size_t n) {
  std::vector<size_t> order(a.nodes.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return !(a.nodes[x].cosine >= a.nodes[y].cosine); });
  order.resize(std::min(n, order.size()));
  return order;
}

void plot_agreement(const std::string& path, const Agreement& a, const std::string& title) {
  const int width = 960, height = 480;
  const double left = 80, right = 30, top = 60, bottom = 60;
  double lo = 1;
  for (const auto& n : a.nodes) lo = std::min(lo, std::isfinite(n.cosine) ? n.cosine : 0.0);
  lo = std::floor(std::min(lo, a.logits_cosine) * 1000) / 1000 - 0.001;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  const size_t count = std::max<size_t>(a.nodes.size(), 1);
  auto px = [&](size_t i) { return left + plot_w * (count == 1 ? 0.5 : static_cast<double>(i) / static_cast<double>(count - 1)); };
  auto py = [&](double c) { return top + plot_h * (1.0 - (std::clamp(c, lo, 1.0) - lo) / (1.0 - lo)); };
  const auto worst = least_similar(a, 5);
  draw_both(path, width, height, [&](cairo_t* cr) {
    background(cr, width, height);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, title, width / 2.0, 18, 12, 0.5, 0);
    cairo_set_line_width(cr, 1);
    cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
    for (int k = 0; k <= 4; ++k) {  // gridlines
      const double c = lo + (1.0 - lo) * k / 4.0;
      cairo_move_to(cr, left, py(c));
      cairo_line_to(cr, width - right, py(c));
      cairo_stroke(cr);
      cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
      char label[32];
      std::snprintf(label, sizeof label, "%.4f", c);
      text(cr, label, left - 6, py(c), 9, 1, 0.5);
      cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
    }
    cairo_set_source_rgb(cr, 0.2, 0.4, 0.8);
    cairo_set_line_width(cr, 1.5);
    for (size_t i = 0; i < a.nodes.size(); ++i) {
      if (i == 0) cairo_move_to(cr, px(i), py(a.nodes[i].cosine));
      else cairo_line_to(cr, px(i), py(a.nodes[i].cosine));
    }
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.8, 0.1, 0.1);
    std::vector<std::pair<std::string, std::pair<double, double>>> labels;
    for (size_t i : worst) {
      cairo_arc(cr, px(i), py(a.nodes[i].cosine), 3.5, 0, 2 * M_PI);
      cairo_fill(cr);
      labels.push_back({a.nodes[i].node, {px(i), py(a.nodes[i].cosine)}});
    }
    point_labels(cr, labels, Box{left, top, width - right, height - bottom}, 8, 300);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, "quantized nodes in graph order (input to output)", left + plot_w / 2, height - 22, 10, 0.5, 0.5);
    text(cr, "cosine similarity to float32", 22, top + plot_h / 2, 10, 0.5, 0.5, true);
    char logits[96];
    std::snprintf(logits, sizeof logits, "logits: cosine %.5f, top-1 agreement %.1f%% (%zu samples)", a.logits_cosine,
                  100 * a.top1_agreement, a.samples);
    text(cr, logits, width - right, top - 14, 10, 1, 0.5);
  });
}

void plot_histograms(const std::string& path, const std::vector<const ActivationRange*>& shown) {
  const int cols = 2, rows = static_cast<int>((shown.size() + 1) / 2);
  const int cell_w = 480, cell_h = 260, width = cols * cell_w, height = std::max(rows, 1) * cell_h;
  draw_both(path, width, height, [&](cairo_t* cr) {
    background(cr, width, height);
    for (size_t k = 0; k < shown.size(); ++k) {
      const ActivationRange& r = *shown[k];
      const double x0 = static_cast<double>(k % cols) * cell_w + 50, y0 = static_cast<double>(k / cols) * cell_h + 40;
      const double w = cell_w - 80, h = cell_h - 90;
      double peak = 1;
      for (uint64_t c : r.histogram) peak = std::max(peak, std::log10(1.0 + static_cast<double>(c)));
      cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
      text(cr, r.tensor, x0, y0 - 22, 9, 0, 0, false, w);
      cairo_set_source_rgb(cr, 0.35, 0.55, 0.85);
      const double bar = w / static_cast<double>(r.histogram.size());
      for (size_t i = 0; i < r.histogram.size(); ++i) {
        const double v = std::log10(1.0 + static_cast<double>(r.histogram[i])) / peak * h;
        cairo_rectangle(cr, x0 + bar * static_cast<double>(i), y0 + h - v, std::max(bar - 0.5, 0.5), v);
      }
      cairo_fill(cr);
      cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
      cairo_set_line_width(cr, 1);
      cairo_rectangle(cr, x0, y0, w, h);
      cairo_stroke(cr);
      // The clipping bound on |x|: what lies right of it saturates.
      const double bx = x0 + w * std::min(1.0, static_cast<double>(r.bound) / std::max(1e-30f, r.histogram_range));
      cairo_set_source_rgb(cr, 0.85, 0.1, 0.1);
      cairo_set_line_width(cr, 2);
      cairo_move_to(cr, bx, y0);
      cairo_line_to(cr, bx, y0 + h);
      cairo_stroke(cr);
      cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
      char line1[96], line2[96];
      std::snprintf(line1, sizeof line1, "|x| from 0 to %.3g (log counts); clipped at %.3g (red)", r.histogram_range, r.bound);
      std::snprintf(line2, sizeof line2, "observed [%.3g, %.3g]; %s, scale %.3g, zero point %d", r.min, r.max,
                    r.is_unsigned ? "uint8" : "int8", r.scale, r.zero_point);
      text(cr, line1, x0, y0 + h + 6, 8);
      text(cr, line2, x0, y0 + h + 20, 8);
    }
  });
}

std::string escape_html(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string html_page(const Agreement& a, const std::vector<NodeSensitivity>& sensitivity,
                      const std::vector<const ActivationRange*>& shown, const std::string& model_name, const std::string& calibration) {
  char buf[512];
  std::string h = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>effvit quantization report</title>\n"
                  "<style>body{font-family:sans-serif;margin:2em;max-width:1000px} table{border-collapse:collapse}"
                  "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right} td:first-child{text-align:left}</style>"
                  "</head><body>\n";
  h += "<h1>" + escape_html(fs::path(model_name).filename().string()) + ": int8 against float32</h1>\n";
  std::snprintf(buf, sizeof buf, "<p>Calibration: %s. Logits on %zu calibration samples: cosine %.5f, top-1 agreement %.1f%%.</p>\n",
                escape_html(calibration).c_str(), a.samples, a.logits_cosine, 100 * a.top1_agreement);
  h += buf;
  h += "<h2>Node by node, the whole model quantized</h2>\n<img src=\"agreement.svg\" width=\"960\">\n";
  h += "<table><tr><th>least similar nodes</th><th>cosine</th><th>max error</th><th>max |fp32|</th></tr>\n";
  for (size_t i : least_similar(a, 20)) {
    std::snprintf(buf, sizeof buf, "<tr><td>%s</td><td>%.5f</td><td>%.4g</td><td>%.4g</td></tr>\n",
                  escape_html(a.nodes[i].node).c_str(), a.nodes[i].cosine, a.nodes[i].max_error, a.nodes[i].max_abs);
    h += buf;
  }
  h += "</table>\n";
  if (!sensitivity.empty()) {
    h += "<h2>Each node quantized alone (sensitivity)</h2>\n<table><tr><th>most sensitive nodes</th><th>logits cosine</th>"
         "<th>top-1 agreement</th></tr>\n";
    for (size_t k = 0; k < sensitivity.size() && k < 20; ++k) {
      std::snprintf(buf, sizeof buf, "<tr><td>%s</td><td>%.5f</td><td>%.1f%%</td></tr>\n", escape_html(sensitivity[k].node).c_str(),
                    sensitivity[k].cosine, 100 * sensitivity[k].top1);
      h += buf;
    }
    h += "</table>\n";
  }
  h += "<h2>The inputs of the least similar nodes</h2>\n<p>|x| histograms, log counts; red: the clipping bound.</p>\n"
       "<img src=\"histograms.svg\" width=\"960\">\n<table><tr><th>tensor</th><th>min</th><th>max</th><th>clip</th>"
       "<th>scale</th><th>zero point</th></tr>\n";
  for (const ActivationRange* r : shown) {
    std::snprintf(buf, sizeof buf, "<tr><td>%s</td><td>%.4g</td><td>%.4g</td><td>%.4g</td><td>%.4g</td><td>%d</td></tr>\n",
                  escape_html(r->tensor).c_str(), r->min, r->max, r->bound, r->scale, r->zero_point);
    h += buf;
  }
  h += "</table>\n<p>Everything, every node and tensor: <a href=\"report.json\">report.json</a>.</p>\n</body></html>\n";
  return h;
}

}  // namespace

void write_report(const std::string& dir, const Agreement& agreement, const std::vector<ActivationRange>& activations,
                  const std::vector<NodeSensitivity>& sensitivity, const std::string& model_name, const std::string& calibration) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::invalid_input, dir + ": cannot create the report folder: " + ec.message());
  nlohmann::json nodes = nlohmann::json::array(), ranges = nlohmann::json::array();
  for (const auto& n : agreement.nodes)
    nodes.push_back({{"node", n.node}, {"tensor", n.tensor}, {"cosine", n.cosine}, {"max_error", n.max_error}, {"max_abs", n.max_abs}});
  for (const auto& r : activations)
    ranges.push_back({{"tensor", r.tensor}, {"readers", r.readers}, {"min", r.min}, {"max", r.max}, {"bound", r.bound},
                      {"scale", r.scale}, {"zero_point", r.zero_point}, {"type", r.is_unsigned ? "uint8" : "int8"},
                      {"histogram_range", r.histogram_range}, {"histogram", r.histogram}});
  nlohmann::json sens = nlohmann::json::array();
  for (const auto& n : sensitivity) sens.push_back({{"node", n.node}, {"cosine", n.cosine}, {"top1_agreement", n.top1}});
  const nlohmann::json j{{"model", model_name},
                         {"calibration", calibration},
                         {"sensitivity", sens},
                         {"agreement", {{"samples", agreement.samples}, {"logits_cosine", agreement.logits_cosine},
                                        {"top1_agreement", agreement.top1_agreement}, {"nodes", nodes}}},
                         {"activations", ranges}};
  write_atomically((fs::path(dir) / "report.json").string(), j.dump(2) + "\n", "report");
  plot_agreement((fs::path(dir) / "agreement").string(), agreement,
                 fs::path(model_name).filename().string() + ": int8 against float32, node by node (" + calibration + ")");
  // The inputs of the least similar nodes: where clipping or resolution went wrong, if anywhere.
  std::map<std::string, const ActivationRange*> by_reader;
  for (const auto& r : activations)
    for (const auto& node : r.readers) by_reader[node] = &r;
  std::vector<const ActivationRange*> shown;
  for (size_t i : least_similar(agreement, agreement.nodes.size())) {
    auto it = by_reader.find(agreement.nodes[i].node);
    if (it != by_reader.end() && std::find(shown.begin(), shown.end(), it->second) == shown.end()) shown.push_back(it->second);
    if (shown.size() == 4) break;
  }
  plot_histograms((fs::path(dir) / "histograms").string(), shown);
  write_atomically((fs::path(dir) / "report.html").string(), html_page(agreement, sensitivity, shown, model_name, calibration),
                   "report page");
}

}  // namespace effvit::quant
