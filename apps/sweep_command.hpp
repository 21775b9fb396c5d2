#pragma once
// `flowsense sweep`: runs a sweep file (experiment/sweep.hpp) from the command
// line. Kept apart from apps/flowsense.cpp, which only dispatches to it.

/// argv[0] is "sweep"; returns the process exit status (0, 1 or 2 as for `run`).
int sweep_command(int argc, char** argv);
