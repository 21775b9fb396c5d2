#include "cancellation.hpp"

#include <csignal>

namespace flowsense::cli {

namespace {
std::atomic<bool> requested{false};
std::atomic<int> signal_number{0};

extern "C" void on_cancel_signal(int sig) {
  requested.store(true);
  signal_number.store(sig);
}
}  // namespace

std::atomic<bool>& cancel_requested() { return requested; }

int cancel_signal() { return signal_number.load(); }

void install_cancel_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_cancel_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // a second signal gets the default action: kill
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace flowsense::cli
