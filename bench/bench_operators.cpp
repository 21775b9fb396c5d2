// Time per right-hand side of the factor flow U' = -grad G_c(U) against d,
// for every sensing operator, at m = 4 p d measurements (DESIGN.md,
// "Performance model"). Prints a Markdown table (docs/operators.md).
//
//   bench_operators [--d=30,50,100,200,500,1000,2000] [--p=5] [--repeats=7]
//                   [--min-seconds=0.3] [--max-dense-gib=2]
//                   [--operators=gaussian,matrices,rank_one,entry_sampling,full]
//
// One right-hand side = FactorFlow::operator(): r = A(UU^T) - b through
// apply_gram, then 2c A*(r) U through adjoint_times. Each cell is the median
// over at least --repeats evaluations (and at least --min-seconds of them).
// Dense operators (gaussian, matrices) hold 8 m d(d+1)/2 bytes; sizes above
// --max-dense-gib are skipped ("-"). The "GB/s" columns divide the bytes an
// operator must stream per right-hand side (its stored matrix, twice: once
// in apply_gram, once in adjoint_times) by the measured time, to compare
// with the machine's read bandwidth printed in the header.
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/problem/entry_sampling_operator.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/matrix_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/problem/rank_one_operator.hpp"
#include "flowsense/version.hpp"

using namespace flowsense;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Options {
  std::vector<Index> dims{30, 50, 100, 200, 500, 1000, 2000};
  Index p = 5;
  int repeats = 7;
  double min_seconds = 0.3;
  double max_dense_gib = 2.0;
  std::vector<std::string> operators{"gaussian", "matrices", "rank_one", "entry_sampling", "full"};
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    const auto eq = arg.find('=');
    const std::string key = arg.substr(0, eq), value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (key == "--d") {
      o.dims.clear();
      for (const auto& v : split(value)) o.dims.push_back(std::stol(v));
    } else if (key == "--p") {
      o.p = std::stol(value);
    } else if (key == "--repeats") {
      o.repeats = std::stoi(value);
    } else if (key == "--min-seconds") {
      o.min_seconds = std::stod(value);
    } else if (key == "--max-dense-gib") {
      o.max_dense_gib = std::stod(value);
    } else if (key == "--operators") {
      o.operators = split(value);
    } else {
      std::cerr << "bench_operators: unknown argument '" << arg
                << "'; expected --d=, --p=, --repeats=, --min-seconds=, --max-dense-gib=, --operators=\n";
      std::exit(2);
    }
  }
  return o;
}

std::string first_line_with(const std::string& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return line;
  return "";
}

/// Read bandwidth: the best of 5 sums over a 512 MiB vector.
double read_bandwidth_gbs() {
  const Index n = Index{64} << 20;
  Vector v = Vector::Ones(n);
  double best = 0, sink = 0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    sink += v.sum();
    best = std::max(best, 8.0 * static_cast<double>(n) / seconds_since(t0) / 1e9);
  }
  if (sink < 0) std::cout << sink;  // keep the sums
  return best;
}

struct Cell {
  bool skipped = true;
  std::string why;
  double seconds_per_rhs = 0;
  double setup_seconds = 0;
  double stored_bytes = 0;    ///< the operator's own storage
  double streamed_bytes = 0;  ///< bytes of it read per right-hand side
  Index m = 0;
};

std::shared_ptr<const SensingOperator> make(const std::string& kind, Index d, Index m, const Options& o,
                                            Cell& cell) {
  const double D = static_cast<double>(packed_size(d));
  const double limit = o.max_dense_gib * double(1ull << 30);
  if (kind == "gaussian" || kind == "matrices") {
    const double bytes = 8.0 * static_cast<double>(m) * D;
    // "matrices" also holds the m d^2 input while packing.
    const double peak = kind == "gaussian" ? bytes : bytes + 8.0 * static_cast<double>(m * d * d);
    if (peak > limit) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "needs %.1f GiB", peak / double(1ull << 30));
      cell.why = buf;
      return nullptr;
    }
    cell.stored_bytes = bytes;
    cell.streamed_bytes = 2 * bytes;
    if (kind == "gaussian") return std::make_shared<GaussianOperator>(d, m, GaussianScale::inv_sqrt_m, 1);
    std::vector<Matrix> A;
    Rng rng(1);
    for (Index i = 0; i < m; ++i) {
      const Matrix G = rng.normal_matrix(d, d);
      A.push_back(G + G.transpose());
    }
    return std::make_shared<MatrixOperator>(A, 1.0 / std::sqrt(static_cast<double>(m)));
  }
  if (kind == "rank_one") {
    cell.stored_bytes = 8.0 * static_cast<double>(m * d);
    cell.streamed_bytes = 2 * cell.stored_bytes;
    return std::make_shared<RankOneOperator>(d, m, GaussianScale::inv_sqrt_m, 1);
  }
  if (kind == "entry_sampling") {
    // |Omega| ~ m: each upper-triangular entry with probability m / D (capped at 1).
    const double q = std::min(1.0, static_cast<double>(m) / D);
    auto op = std::make_shared<EntrySamplingOperator>(EntrySamplingOperator::random(d, q, 1));
    cell.stored_bytes = static_cast<double>(sizeof(Entry)) * static_cast<double>(op->measurements());
    cell.streamed_bytes = 2 * cell.stored_bytes;
    return op;
  }
  if (kind == "full") {
    cell.stored_bytes = 0;
    cell.streamed_bytes = 0;
    return std::make_shared<FullObservation>(d);
  }
  std::cerr << "bench_operators: unknown operator '" << kind
            << "'; expected gaussian, matrices, rank_one, entry_sampling or full\n";
  std::exit(2);
}

Cell measure(const std::string& kind, Index d, const Options& o) {
  Cell cell;
  const Index m = 4 * o.p * d;
  const auto t0 = Clock::now();
  auto op = make(kind, d, m, o, cell);
  if (!op) return cell;
  cell.m = op->measurements();
  const Problem problem = Problem::noiseless_from_factor(op, random_factor(d, o.p, o.p, 1.0, 2));
  FactorFlow flow(SensingLoss(problem, 0.25));
  cell.setup_seconds = seconds_since(t0);
  const Matrix U = random_factor(d, o.p, o.p, 1.0, 3);
  Matrix dU;
  flow(U, dU, 0.0);  // warm up (first-touch of scratch, caches)
  std::vector<double> times;
  const auto start = Clock::now();
  while (static_cast<int>(times.size()) < o.repeats || seconds_since(start) < o.min_seconds) {
    const auto t = Clock::now();
    flow(U, dU, 0.0);
    times.push_back(seconds_since(t));
    if (times.size() >= 1000) break;
  }
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  cell.seconds_per_rhs = times[times.size() / 2];
  cell.skipped = false;
  return cell;
}

std::string format_time(double s) {
  char buf[32];
  if (s < 1e-3)
    std::snprintf(buf, sizeof buf, "%.1f us", s * 1e6);
  else if (s < 1)
    std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::string model = first_line_with("/proc/cpuinfo", "model name");
  if (const auto c = model.find(':'); c != std::string::npos) model = model.substr(c + 2);
  std::ifstream load("/proc/loadavg");
  std::string load1;
  load >> load1;
  std::cout << "flowsense " << version << " bench_operators: p = " << o.p << ", m = 4 p d, median of >= "
            << o.repeats << " right-hand sides (>= " << o.min_seconds << " s)\n";
  std::cout << "machine: " << model << ", " << std::thread::hardware_concurrency()
            << " hardware threads, load average at start " << load1 << "\n";
  const double bw = read_bandwidth_gbs();
  std::printf("measured read bandwidth (sum over 512 MiB, best of 5): %.1f GB/s\n\n", bw);

  std::map<std::string, std::map<Index, Cell>> cells;
  for (Index d : o.dims)
    for (const auto& kind : o.operators) {
      cells[kind][d] = measure(kind, d, o);
      const Cell& c = cells[kind][d];
      std::cerr << kind << " d = " << d << ": "
                << (c.skipped ? "skipped (" + c.why + ")" : format_time(c.seconds_per_rhs) + " per RHS") << "\n";
    }

  std::cout << "time per right-hand side (median):\n\n| d | m = 4pd |";
  for (const auto& kind : o.operators) std::cout << " " << kind << " |";
  std::cout << "\n|---|---|";
  for (std::size_t k = 0; k < o.operators.size(); ++k) std::cout << "---|";
  std::cout << "\n";
  for (Index d : o.dims) {
    std::cout << "| " << d << " | " << 4 * o.p * d << " |";
    for (const auto& kind : o.operators) {
      const Cell& c = cells[kind][d];
      std::cout << " " << (c.skipped ? "- (" + c.why + ")" : format_time(c.seconds_per_rhs)) << " |";
    }
    std::cout << "\n";
  }
  std::cout << "\nstored operator size and effective bandwidth (bytes of the operator streamed per RHS / time):\n\n"
               "| d |";
  for (const auto& kind : o.operators)
    if (kind != "full") std::cout << " " << kind << " MB | GB/s |";
  std::cout << "\n|---|";
  for (const auto& kind : o.operators)
    if (kind != "full") std::cout << "---|---|";
  std::cout << "\n";
  for (Index d : o.dims) {
    std::cout << "| " << d << " |";
    for (const auto& kind : o.operators) {
      if (kind == "full") continue;
      const Cell& c = cells[kind][d];
      if (c.skipped) {
        std::cout << " - | - |";
        continue;
      }
      char buf[64];
      std::snprintf(buf, sizeof buf, " %.1f | %.1f |", c.stored_bytes / 1e6,
                    c.streamed_bytes / c.seconds_per_rhs / 1e9);
      std::cout << buf;
    }
    std::cout << "\n";
  }
  std::cout << "\nsetup (draw the operator and the data), seconds:\n\n| d |";
  for (const auto& kind : o.operators) std::cout << " " << kind << " |";
  std::cout << "\n|---|";
  for (std::size_t k = 0; k < o.operators.size(); ++k) std::cout << "---|";
  std::cout << "\n";
  for (Index d : o.dims) {
    std::cout << "| " << d << " |";
    for (const auto& kind : o.operators) {
      const Cell& c = cells[kind][d];
      char buf[32];
      std::snprintf(buf, sizeof buf, " %.2f |", c.setup_seconds);
      std::cout << (c.skipped ? std::string(" - |") : std::string(buf));
    }
    std::cout << "\n";
  }
  return 0;
}
