#pragma once
// What the subcommands share: Ctrl-C / SIGTERM as a cancel request, and the
// usage-error type that maps to exit status 2.
#include <atomic>
#include <stdexcept>

namespace flowsense::cli {

/// A wrong command line (exit status 2, nothing run).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Set by the first SIGINT or SIGTERM after install_cancel_handlers(); the
/// library polls it (RunHooks::cancel, SweepOptions::cancel) and stops cleanly.
std::atomic<bool>& cancel_requested();
/// The signal that set it (SIGINT or SIGTERM), 0 before.
int cancel_signal();
/// From here on the first signal requests a clean stop; a second one gets the
/// default action (kill), so an impatient user is never stuck.
void install_cancel_handlers();

}  // namespace flowsense::cli
