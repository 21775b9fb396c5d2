#include "flowsense/experiment/sweep.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "flowsense/core/error.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/experiment/fields.hpp"
#include "flowsense/experiment/run.hpp"
#include "flowsense/io/atomic_file.hpp"
#include "flowsense/trajectory/manifest.hpp"
#include "flowsense/trajectory/trajectory.hpp"

namespace flowsense {

namespace fs = std::filesystem;
using nlohmann::json;

void set_field(json& config, const std::string& dotted_path, const json& value) {
  if (dotted_path.empty()) throw std::invalid_argument("set_field: empty path");
  json* node = &config;
  std::size_t start = 0;
  while (true) {
    const auto dot = dotted_path.find('.', start);
    const std::string key = dotted_path.substr(start, dot - start);
    if (key.empty()) throw std::invalid_argument("set_field: empty component in '" + dotted_path + "'");
    if (!node->is_object()) *node = json::object();
    if (dot == std::string::npos) {
      (*node)[key] = value;
      return;
    }
    node = &(*node)[key];
    start = dot + 1;
  }
}

SweepSpec parse_sweep(const json& sweep, const std::string& base_dir) {
  Fields f(sweep, "");
  f.allow_only({"description", "seed", "base", "grid", "trials", "trial_fields", "aggregate"});
  SweepSpec spec;
  spec.base_dir = base_dir;
  if (f.has("description")) spec.description = f.string("description");
  spec.seed = f.has("seed") ? f.seed("seed") : 0;
  f.require("base", "the run config every run starts from (an object, or a path to a JSON file)");
  if (f.raw("base").is_string()) {
    fs::path p = f.raw("base").get<std::string>();
    if (p.is_relative()) p = fs::path(base_dir) / p;
    spec.base = read_json_file(p.string());
    spec.base_dir = p.parent_path().string();
  } else if (f.raw("base").is_object()) {
    spec.base = f.raw("base");
  } else {
    throw InputError("base", "expected an object or a path string, got " + f.raw("base").dump());
  }
  if (f.has("grid")) {
    const json& g = f.raw("grid");
    if (!g.is_array()) throw InputError("grid", "expected an array of {field, values}, got " + g.dump());
    for (std::size_t i = 0; i < g.size(); ++i) {
      const std::string where = "grid[" + std::to_string(i) + "]";
      Fields axis(g[i], where);
      axis.allow_only({"field", "values"});
      axis.require("field", "a dotted config path such as \"init.norm\"");
      axis.require("values", "a non-empty array of values");
      SweepAxis a;
      a.field = axis.string("field");
      const json& v = axis.raw("values");
      if (!v.is_array() || v.empty())
        throw InputError(where + ".values", "expected a non-empty array, got " + v.dump());
      a.values.assign(v.begin(), v.end());
      spec.grid.push_back(std::move(a));
    }
  }
  spec.trials = static_cast<int>(f.integer("trials", 1));
  if (spec.trials < 1) throw InputError("trials", "expected an integer >= 1, got " + std::to_string(spec.trials));
  if (f.has("trial_fields")) {
    const json& t = f.raw("trial_fields");
    if (!t.is_array()) throw InputError("trial_fields", "expected an array of dotted paths, got " + t.dump());
    for (const auto& x : t) {
      if (!x.is_string()) throw InputError("trial_fields", "expected strings, got " + x.dump());
      spec.trial_fields.push_back(x.get<std::string>());
    }
  }
  if (spec.trials > 1 && spec.trial_fields.empty())
    throw InputError("trial_fields", "trials = " + std::to_string(spec.trials) +
                                         " needs at least one seed field that differs per trial, e.g. [\"init.seed\"]");
  if (f.has("aggregate")) {
    spec.aggregate.clear();
    for (const auto& x : f.raw("aggregate")) spec.aggregate.push_back(x.get<std::string>());
  }
  // Every run's config must parse: check them all before anything runs.
  for (const auto& run : expand_sweep(spec)) {
    try {
      parse_config(run.config, spec.base_dir);
    } catch (const InputError& e) {
      throw InputError("run " + run.id + " (" + run.params.dump() + ")", e.what());
    }
  }
  return spec;
}

SweepSpec load_sweep(const std::string& path) {
  const json j = read_json_file(path);
  return parse_sweep(j, fs::absolute(path).parent_path().string());
}

std::vector<SweepRun> expand_sweep(const SweepSpec& spec) {
  std::size_t points = 1;
  for (const auto& a : spec.grid) points *= a.values.size();
  std::vector<SweepRun> runs;
  for (std::size_t g = 0; g < points; ++g) {
    json params = json::object();
    json config = spec.base;
    std::size_t rest = g;
    for (std::size_t i = spec.grid.size(); i-- > 0;) {  // last axis fastest
      const auto& a = spec.grid[i];
      const json& v = a.values[rest % a.values.size()];
      rest /= a.values.size();
      params[a.field] = v;
      set_field(config, a.field, v);
    }
    for (int t = 0; t < spec.trials; ++t) {
      json c = config;
      for (std::size_t j = 0; j < spec.trial_fields.size(); ++j)
        set_field(c, spec.trial_fields[j],
                  Rng::derive_seed(Rng::derive_seed(spec.seed, j + 1), static_cast<std::uint64_t>(t)));
      char id[32];
      std::snprintf(id, sizeof id, "g%03zu_t%d", g, t);
      runs.push_back({id, g, t, params, std::move(c)});
    }
  }
  return runs;
}

namespace {

bool run_is_complete(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "manifest.json", ec) && fs::exists(dir / "trajectory.csv", ec);
}

}  // namespace

json sweep_key(const SweepSpec& spec) {
  json grid = json::array();
  for (const auto& a : spec.grid) grid.push_back({{"field", a.field}, {"values", a.values}});
  return {{"seed", spec.seed},
          {"base", spec.base},
          {"grid", grid},
          {"trials", spec.trials},
          {"trial_fields", spec.trial_fields}};
}

SweepReport run_sweep(const SweepSpec& spec, const std::string& out_dir, const SweepOptions& options) {
  // Resume only into a directory that holds this very sweep (or none).
  const json key = sweep_key(spec);
  const std::string key_path = out_dir + "/sweep_spec.json";
  if (fs::exists(key_path)) {
    const json old = read_json_file(key_path);
    if (old != key) {
      std::string differs;
      for (const auto& [k, v] : key.items())
        if (!old.contains(k) || old[k] != v) differs += (differs.empty() ? "" : ", ") + k;
      throw InputError("out", out_dir + " holds the runs of a different sweep (it differs in: " + differs +
                                  "); choose another output directory or remove that one");
    }
  }
  create_directories(out_dir + "/runs");
  write_json(key_path, key);
  const auto runs = expand_sweep(spec);
  SweepReport report;
  report.total = runs.size();
  report.runs = json::array();
  std::vector<json> status(runs.size());
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const fs::path dir = fs::path(out_dir) / "runs" / runs[i].id;
    if (run_is_complete(dir)) {
      const json m = read_json_file((dir / "manifest.json").string());
      status[i] = {{"status", "done"}, {"termination", m.value("/summary/termination"_json_pointer, "unknown")}};
      ++report.skipped;
    } else {
      todo.push_back(i);
    }
  }

  std::mutex mutex;
  std::size_t next = 0, running = 0, finished = 0;
  const auto start = std::chrono::steady_clock::now();
  SweepProgress progress;
  progress.total = runs.size();
  progress.skipped = report.skipped;
  progress.done = report.skipped;

  auto report_progress = [&](const std::string& last) {  // under the lock
    if (!options.progress) return;
    progress.done = report.skipped + report.completed + report.failed;
    progress.failed = report.failed;
    progress.interrupted = report.interrupted;
    progress.running = running;
    progress.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::size_t left = todo.size() - finished;
    progress.eta_seconds =
        finished > 0 ? progress.elapsed_seconds / static_cast<double>(finished) * static_cast<double>(left) : -1;
    if (!last.empty()) progress.last_finished = last;
    options.progress(progress);
  };

  auto worker = [&] {
    while (true) {
      std::size_t i;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (next >= todo.size() || (options.cancel && options.cancel->load())) return;
        i = todo[next++];
        ++running;
        report_progress("");
      }
      const auto& run_spec = runs[i];
      const fs::path dir = fs::path(out_dir) / "runs" / run_spec.id;
      json st;
      try {
        const RunConfig config = parse_config(run_spec.config, spec.base_dir);
        const RunResult result = run(config, RunHooks{nullptr, options.cancel});
        if (result.trajectory.summary.termination == Termination::interrupted && options.cancel &&
            options.cancel->load()) {
          // Cut short by Ctrl-C: not a result. Without a manifest it runs again on resume.
          std::lock_guard<std::mutex> lock(mutex);
          status[i] = {{"status", "interrupted"}};
          --running;
          ++report.interrupted;
          report_progress(run_spec.id + " interrupted");
          continue;
        }
        write_run_outputs(dir.string(), config, result,
                          {{"sweep", {{"id", run_spec.id}, {"trial", run_spec.trial}, {"params", run_spec.params}}}});
        std::error_code ec;
        fs::remove(dir / "failed.json", ec);
        st = {{"status", "done"}, {"termination", to_string(result.trajectory.summary.termination)}};
      } catch (const std::exception& e) {
        create_directories(dir.string());
        write_json((dir / "failed.json").string(), {{"id", run_spec.id}, {"reason", e.what()}});
        st = {{"status", "failed"}, {"reason", e.what()}};
      }
      std::lock_guard<std::mutex> lock(mutex);
      status[i] = st;
      --running;
      ++finished;
      if (st["status"] == "failed") ++report.failed;
      else ++report.completed;
      report_progress(run_spec.id + " " + st.value("termination", st.value("reason", std::string())));
    }
  };

  int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<std::size_t>(1, todo.size()))));
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  report.cancelled = options.cancel && options.cancel->load();

  for (std::size_t i = 0; i < runs.size(); ++i) {
    json r = {{"id", runs[i].id}, {"trial", runs[i].trial}, {"params", runs[i].params}};
    if (status[i].is_null()) r["status"] = "not run";
    else r.update(status[i]);
    report.runs.push_back(std::move(r));
  }
  json grid = json::array();
  for (const auto& a : spec.grid) grid.push_back({{"field", a.field}, {"values", a.values}});
  write_json(out_dir + "/sweep.json",
             make_manifest({{"description", spec.description},
                            {"seed", spec.seed},
                            {"base", spec.base},
                            {"grid", grid},
                            {"trials", spec.trials},
                            {"trial_fields", spec.trial_fields},
                            {"total", report.total},
                            {"completed_now", report.completed},
                            {"skipped_complete", report.skipped},
                            {"failed", report.failed},
                            {"interrupted", report.interrupted},
                            {"cancelled", report.cancelled},
                            {"runs", report.runs}}));
  return report;
}

MeanStd mean_and_std(const std::vector<double>& values) {
  MeanStd m;
  double sum = 0;
  for (double v : values)
    if (std::isfinite(v)) {
      sum += v;
      ++m.n;
    }
  if (m.n == 0) {
    m.mean = m.std = std::nan("");
    return m;
  }
  m.mean = sum / m.n;
  if (m.n > 1) {
    double ss = 0;
    for (double v : values)
      if (std::isfinite(v)) ss += (v - m.mean) * (v - m.mean);
    m.std = std::sqrt(ss / (m.n - 1));
  }
  return m;
}

std::vector<PointSummary> aggregate_sweep(const SweepSpec& spec, const std::string& out_dir) {
  const auto runs = expand_sweep(spec);
  std::map<std::size_t, std::vector<Trajectory>> by_point;
  std::map<std::size_t, PointSummary> summaries;
  for (const auto& r : runs) {
    const fs::path dir = fs::path(out_dir) / "runs" / r.id;
    PointSummary& p = summaries[r.grid_index];
    p.point = r.grid_index;
    p.params = r.params;
    if (run_is_complete(dir)) {
      by_point[r.grid_index].push_back(read_trajectory_csv((dir / "trajectory.csv").string()));
      const json m = read_json_file((dir / "manifest.json").string());
      const std::string termination = m.value("/summary/termination"_json_pointer, std::string("unknown"));
      ++p.terminations[termination];
      p.final_terminations.push_back(termination);
      ++p.trials_complete;
    } else if (fs::exists(dir / "failed.json")) {
      ++p.trials_failed;
    }
  }
  for (auto& [g, p] : summaries) {
    const auto it = by_point.find(g);
    if (it == by_point.end()) continue;
    for (const auto& t : it->second) {
      p.final_t.push_back(t.final_value("t"));
      p.final_iterations.push_back(t.has_column("iteration") ? t.final_value("iteration") : std::nan(""));
    }
    for (const auto& c : spec.aggregate) {
      std::vector<double> v;
      for (const auto& t : it->second) v.push_back(t.has_column(c) ? t.final_value(c) : std::nan(""));
      p.final[c] = mean_and_std(v);
    }
  }
  std::string out = "point,row,t,iteration";
  for (const auto& c : spec.aggregate) out += "," + c + "_mean," + c + "_std," + c + "_lo," + c + "_hi," + c + "_n";
  out += "\n";
  char buf[40];
  auto num = [&](double v) {
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return std::string(buf);
  };
  json points = json::array();
  std::vector<PointSummary> result;
  for (const auto& [g, p] : summaries) {
    json fin = json::object();
    for (const auto& [c, m] : p.final)
      fin[c] = {{"mean", m.mean}, {"std", m.std}, {"lo", m.mean - m.std / 2}, {"hi", m.mean + m.std / 2}, {"n", m.n}};
    points.push_back({{"point", g},
                      {"params", p.params},
                      {"trials_complete", p.trials_complete},
                      {"trials_failed", p.trials_failed},
                      {"terminations", p.terminations},
                      {"final_iterations", p.final_iterations},
                      {"final_t", p.final_t},
                      {"final_terminations", p.final_terminations},
                      {"final", fin}});
    result.push_back(p);
  }
  for (const auto& [g, trajectories] : by_point) {
    const std::string prefix = std::to_string(g) + ",";
    std::size_t rows = 0;
    for (const auto& t : trajectories) rows = std::max(rows, t.rows.size());
    for (std::size_t row = 0; row < rows; ++row) {
      const Trajectory* first = nullptr;
      for (const auto& t : trajectories)
        if (row < t.rows.size()) {
          first = &t;
          break;
        }
      auto value = [&](const Trajectory& t, const std::string& c) {
        if (!t.has_column(c) || row >= t.rows.size()) return std::nan("");
        const auto j = static_cast<std::size_t>(std::find(t.columns.begin(), t.columns.end(), c) - t.columns.begin());
        return t.rows[row][j];
      };
      out += prefix + std::to_string(row) + "," + num(value(*first, "t")) + "," + num(value(*first, "iteration"));
      for (const auto& c : spec.aggregate) {
        std::vector<double> v;
        for (const auto& t : trajectories) v.push_back(value(t, c));
        const MeanStd m = mean_and_std(v);
        out += "," + num(m.mean) + "," + num(m.std) + "," + num(m.mean - m.std / 2) + "," +
               num(m.mean + m.std / 2) + "," + std::to_string(m.n);
      }
      out += "\n";
    }
  }
  write_file_atomically(out_dir + "/aggregate.csv", out);
  write_json(out_dir + "/points.json", points);
  return result;
}

}  // namespace flowsense
