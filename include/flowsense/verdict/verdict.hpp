#pragma once
// A verdict: what a numerical check says about one stated claim of the papers.
//
//   Verdict v = check_lemma_c1(setup);          // or probe_lemma_f2(options), ...
//   write_verdict(v, "out/lemma_c1");           // verdict.json, verdict.md, figure.svg, witness/*.npy
//
// Status semantics (the same for every check):
//   holds        every consequence of the claim that the check can evaluate was
//                observed, within the stated tolerance, at every point tried. This is
//                evidence, never a proof: a search that found no counterexample.
//   violated     a point where the claim's hypotheses are met (as far as they can be
//                verified) and its conclusion fails by more than the tolerance. The
//                point is saved as witness matrices (.npy) so anyone can re-check it.
//   inconclusive the check could not decide: a hypothesis could not be verified or
//                failed (so the claim says nothing), an asymptotic statement was only
//                sampled at finite parameters, or a quantity is only known up to a bound
//                on the wrong side. The summary says which.
//
// Tolerances are fixed before the check runs and each comes with the reason for its
// value (floating-point error of the quantities compared, integration accuracy);
// they are never adjusted after seeing the outcome.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowsense/core/types.hpp"
#include "flowsense/verdict/figure.hpp"

namespace flowsense {

enum class VerdictStatus { holds, violated, inconclusive };
std::string to_string(VerdictStatus status);

/// A claim of a paper, stated exactly (with constants and hypotheses).
struct Claim {
  std::string name;       ///< "Lemma F.2 (paper 000)"
  std::string statement;  ///< the exact statement, hypotheses first
  std::string source;     ///< "Eftekhari & Zygalakis, Appendix F, eq. (54)"
};

/// The state of one hypothesis of the claim at the checked instance.
enum class HypothesisStatus {
  met,         ///< verified (exactly or with a certified bound)
  not_met,     ///< certainly fails (the claim then says nothing here)
  unverified,  ///< only estimated; the note says from which side the estimate errs
};
std::string to_string(HypothesisStatus status);

/// A number for reports and evidence strings: `precision` significant digits
/// in std::ostream's default float format (printf's %g). Config messages use
/// experiment/fields.hpp's format_number, the round-tripping form.
std::string format_significant(double value, int precision = 6);

struct Hypothesis {
  std::string name;    ///< "Assumption 3.1(iii) (restricted injectivity)"
  HypothesisStatus status = HypothesisStatus::unverified;
  std::string detail;  ///< the numbers behind the status
};

/// One named number of the evidence.
struct Quantity {
  std::string name;
  double value = 0.0;
  std::string note;  ///< what it is, and which side of the truth an estimate lies on
};

/// A tolerance used by the check, with the reason for its value.
struct Tolerance {
  std::string name;
  double value = 0.0;
  std::string reason;
};

/// A small table of evidence (e.g. one row per observation time or per probe shape).
struct EvidenceTable {
  std::string name;
  std::string caption;
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
  /// Optional text labels, one per row, shown as a first column named `label_column`.
  std::vector<std::string> row_labels;
  std::string label_column = "case";
};

/// A matrix that makes a violation (or the checked instance) reproducible; written
/// as witness/<name>.npy (float64, C order).
struct Witness {
  std::string name;  ///< file stem: letters, digits, '_' and '-'
  Matrix value;
  std::string description;
};

struct Verdict {
  Claim claim;
  VerdictStatus status = VerdictStatus::inconclusive;
  std::string summary;  ///< one paragraph: what was found and why this status
  std::vector<Hypothesis> hypotheses;
  std::vector<Quantity> evidence;
  std::vector<Tolerance> tolerances;
  std::vector<EvidenceTable> tables;
  std::vector<Witness> witnesses;
  std::vector<std::string> notes;  ///< caveats, remarks on the paper's statement
  Figure figure;
  nlohmann::json setup = nlohmann::json::object();  ///< everything needed to repeat it

  /// The evidence value named `name`; throws std::out_of_range naming it if absent.
  double quantity(const std::string& name) const;
  bool has_quantity(const std::string& name) const;
  /// The table named `name`; throws std::out_of_range naming it if absent.
  const EvidenceTable& table(const std::string& name) const;
  void add(std::string name, double value, std::string note = {}) {
    evidence.push_back({std::move(name), value, std::move(note)});
  }
};

/// The verdict as JSON (witnesses by file name and shape; non-finite numbers as
/// strings "nan", "inf", "-inf" so that the file stays valid JSON).
nlohmann::json to_json(const Verdict& verdict);

/// A readable Markdown report (long tables are cut to `max_table_rows` rows; the
/// JSON has them all).
std::string to_markdown(const Verdict& verdict, std::size_t max_table_rows = 40);

/// Writes the verdict directory `dir` (created if needed):
///   witness/<name>.npy  every witness matrix;
///   figure.svg          the figure (if it has a panel);
///   verdict.md          the report;
///   verdict.json        written last, so a reader who sees it sees a complete set.
/// Every file is written atomically. Throws InputError naming the path on I/O failure.
void write_verdict(const Verdict& verdict, const std::string& dir);

}  // namespace flowsense
