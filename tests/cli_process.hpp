#pragma once
// Running the built flowsense CLI from a test: a temporary directory that
// removes itself, and the CLI run as a child process (no shell) with its
// stdout and stderr captured, or started in the background to be signalled.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flowsense/core/random.hpp"

namespace cli_process {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    flowsense::Rng rng(static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                       static_cast<std::uint64_t>(::getpid()));
    path = std::filesystem::temp_directory_path() / ("flowsense_cli_" + std::to_string(rng.engine()()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Starts `program args...` with stdout and stderr sent to the given files.
inline pid_t spawn(const std::string& program, const std::vector<std::string>& args, const std::string& out,
                   const std::string& err) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fo = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int fe = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fo, 1);
    ::dup2(fe, 2);
    std::vector<char*> argv = {const_cast<char*>(program.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

/// The exit status of a child, or 128 + signal if a signal ended it.
inline int wait_status(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct Result {
  int status;
  std::string out, err;
};

/// Runs `program args...` to the end, capturing stdout and stderr.
inline Result run(const std::string& program, const std::vector<std::string>& args, const TempDir& tmp) {
  const std::string out = tmp.file("stdout.txt"), err = tmp.file("stderr.txt");
  const int status = wait_status(spawn(program, args, out, err));
  return {status, slurp(out), slurp(err)};
}

}  // namespace cli_process
