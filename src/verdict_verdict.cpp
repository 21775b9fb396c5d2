#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "flowsense/io/atomic_file.hpp"
#include "flowsense/io/npy.hpp"
#include "flowsense/trajectory/manifest.hpp"
#include "flowsense/verdict/verdict.hpp"

namespace flowsense {

std::string to_string(VerdictStatus status) {
  switch (status) {
    case VerdictStatus::holds: return "holds";
    case VerdictStatus::violated: return "violated";
    case VerdictStatus::inconclusive: return "inconclusive";
  }
  return "unknown";
}

std::string format_significant(double value, int precision) {
  std::ostringstream s;
  s.precision(precision);
  s << value;
  return s.str();
}

std::string to_string(HypothesisStatus status) {
  switch (status) {
    case HypothesisStatus::met: return "met";
    case HypothesisStatus::not_met: return "not met";
    case HypothesisStatus::unverified: return "unverified";
  }
  return "unknown";
}

double Verdict::quantity(const std::string& name) const {
  for (const auto& q : evidence)
    if (q.name == name) return q.value;
  throw std::out_of_range("Verdict::quantity(): no evidence named '" + name + "' in " + claim.name);
}

bool Verdict::has_quantity(const std::string& name) const {
  for (const auto& q : evidence)
    if (q.name == name) return true;
  return false;
}

const EvidenceTable& Verdict::table(const std::string& name) const {
  for (const auto& t : tables)
    if (t.name == name) return t;
  throw std::out_of_range("Verdict::table(): no table named '" + name + "' in " + claim.name);
}

namespace {

nlohmann::json number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

std::string fmt(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

void check_witness_name(const std::string& name) {
  if (name.empty()) throw std::invalid_argument("write_verdict(): a witness has an empty name");
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
      throw std::invalid_argument("write_verdict(): witness name '" + name +
                                  "' may contain only letters, digits, '_' and '-'");
}

}  // namespace

nlohmann::json to_json(const Verdict& v) {
  nlohmann::json j;
  j["claim"] = {{"name", v.claim.name}, {"statement", v.claim.statement}, {"source", v.claim.source}};
  j["status"] = to_string(v.status);
  j["summary"] = v.summary;
  j["hypotheses"] = nlohmann::json::array();
  for (const auto& h : v.hypotheses)
    j["hypotheses"].push_back({{"name", h.name}, {"status", to_string(h.status)}, {"detail", h.detail}});
  j["evidence"] = nlohmann::json::array();
  for (const auto& q : v.evidence)
    j["evidence"].push_back({{"name", q.name}, {"value", number(q.value)}, {"note", q.note}});
  j["tolerances"] = nlohmann::json::array();
  for (const auto& t : v.tolerances)
    j["tolerances"].push_back({{"name", t.name}, {"value", number(t.value)}, {"reason", t.reason}});
  j["tables"] = nlohmann::json::array();
  for (const auto& t : v.tables) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : t.rows) {
      nlohmann::json row = nlohmann::json::array();
      for (double x : r) row.push_back(number(x));
      rows.push_back(std::move(row));
    }
    nlohmann::json table = {
        {"name", t.name}, {"caption", t.caption}, {"columns", t.columns}, {"rows", std::move(rows)}};
    if (!t.row_labels.empty()) {
      table["label_column"] = t.label_column;
      table["row_labels"] = t.row_labels;
    }
    j["tables"].push_back(std::move(table));
  }
  j["witnesses"] = nlohmann::json::array();
  for (const auto& w : v.witnesses)
    j["witnesses"].push_back({{"name", w.name},
                              {"file", "witness/" + w.name + ".npy"},
                              {"shape", {w.value.rows(), w.value.cols()}},
                              {"description", w.description}});
  j["notes"] = v.notes;
  j["figure"] = v.figure.empty() ? nlohmann::json(nullptr) : nlohmann::json("figure.svg");
  j["setup"] = v.setup;
  return j;
}

std::string to_markdown(const Verdict& v, std::size_t max_table_rows) {
  std::ostringstream md;
  md << "# " << v.claim.name << ": **" << to_string(v.status) << "**\n\n";
  md << "**Claim.** " << v.claim.statement << "\n\n";
  md << "*Source:* " << v.claim.source << "\n\n";
  md << "**Verdict.** " << v.summary << "\n\n";
  if (!v.hypotheses.empty()) {
    md << "## Hypotheses\n\n| hypothesis | status | detail |\n|---|---|---|\n";
    for (const auto& h : v.hypotheses)
      md << "| " << cell(h.name) << " | " << to_string(h.status) << " | " << cell(h.detail) << " |\n";
    md << "\n";
  }
  if (!v.evidence.empty()) {
    md << "## Evidence\n\n| quantity | value | note |\n|---|---|---|\n";
    for (const auto& q : v.evidence)
      md << "| " << cell(q.name) << " | " << fmt(q.value) << " | " << cell(q.note) << " |\n";
    md << "\n";
  }
  if (!v.tolerances.empty()) {
    md << "## Tolerances\n\n| tolerance | value | why this value |\n|---|---|---|\n";
    for (const auto& t : v.tolerances)
      md << "| " << cell(t.name) << " | " << fmt(t.value) << " | " << cell(t.reason) << " |\n";
    md << "\n";
  }
  for (const auto& t : v.tables) {
    md << "## Table: " << t.name << "\n\n";
    if (!t.caption.empty()) md << t.caption << "\n\n";
    const bool labels = !t.row_labels.empty();
    md << "|";
    if (labels) md << " " << cell(t.label_column) << " |";
    for (const auto& c : t.columns) md << " " << cell(c) << " |";
    md << "\n|";
    for (std::size_t i = 0; i < t.columns.size() + (labels ? 1 : 0); ++i) md << "---|";
    md << "\n";
    const std::size_t n = t.rows.size();
    // Long tables: the first and last rows, evenly thinned in between.
    std::vector<std::size_t> shown;
    if (n <= max_table_rows || max_table_rows < 2) {
      for (std::size_t i = 0; i < n; ++i) shown.push_back(i);
    } else {
      for (std::size_t k = 0; k < max_table_rows; ++k)
        shown.push_back(k * (n - 1) / (max_table_rows - 1));
    }
    for (std::size_t i : shown) {
      md << "|";
      if (labels) md << " " << cell(i < t.row_labels.size() ? t.row_labels[i] : "") << " |";
      for (double x : t.rows[i]) md << " " << fmt(x) << " |";
      md << "\n";
    }
    if (shown.size() < n)
      md << "\n(" << shown.size() << " of " << n << " rows, evenly spaced; all rows are in verdict.json)\n";
    md << "\n";
  }
  if (!v.witnesses.empty()) {
    md << "## Witnesses\n\nFloat64 .npy files (`numpy.load`):\n\n";
    for (const auto& w : v.witnesses)
      md << "- `witness/" << w.name << ".npy` (" << w.value.rows() << " x " << w.value.cols()
         << "): " << w.description << "\n";
    md << "\n";
  }
  if (!v.figure.empty()) md << "## Figure\n\n![" << v.claim.name << "](figure.svg)\n\n";
  if (!v.notes.empty()) {
    md << "## Notes\n\n";
    for (const auto& n : v.notes) md << "- " << n << "\n";
    md << "\n";
  }
  md << "## Setup\n\n```json\n" << v.setup.dump(2) << "\n```\n";
  return md.str();
}

void write_verdict(const Verdict& v, const std::string& dir) {
  for (const auto& w : v.witnesses) check_witness_name(w.name);
  create_directories(dir);
  if (!v.witnesses.empty()) {
    create_directories(dir + "/witness");
    for (const auto& w : v.witnesses) write_npy(dir + "/witness/" + w.name + ".npy", w.value);
  }
  if (!v.figure.empty()) write_file_atomically(dir + "/figure.svg", render_svg(v.figure));
  write_file_atomically(dir + "/verdict.md", to_markdown(v));
  write_json(dir + "/verdict.json", to_json(v));
}

}  // namespace flowsense
