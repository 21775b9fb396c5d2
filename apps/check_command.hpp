#pragma once
// `flowsense check THEOREM [CONFIG.json] --out DIR`: runs what a theorem's
// verdict needs and writes the verdict (apps/check_command.cpp, docs/cli.md).
namespace flowsense_cli {

/// Runs `flowsense check` with the arguments after "check"; returns the exit
/// status: 0 holds, 1 inconclusive, 3 violated (outputs written in each case),
/// 2 bad input or usage (nothing run).
int check_command(int argc, char** argv);

}  // namespace flowsense_cli
