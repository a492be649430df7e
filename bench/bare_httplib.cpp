// bench_bare_httplib: the ceiling for GET throughput on this machine. A bare
// cpp-httplib server answering a constant, with the agent's server settings
// (64-thread pool, keep-alive 5 s, TCP_NODELAY): edge-agent's read figures
// are quoted as a ratio to it.
//
//   bench_bare_httplib [PORT]   (0 or none: an ephemeral port)
// Prints "port N" on stdout once listening; SIGTERM/SIGINT stop it (exit 0).

#include <httplib.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {
httplib::Server* g_server = nullptr;
void on_signal(int) {
  if (g_server != nullptr) g_server->stop();
}
}  // namespace

int main(int argc, char** argv) {
  const int want = argc > 1 ? std::atoi(argv[1]) : 0;
  httplib::Server svr;
  svr.new_task_queue = [] { return new httplib::ThreadPool(64); };
  svr.set_keep_alive_timeout(5);
  svr.set_tcp_nodelay(true);
  svr.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  int port = want;
  if (want == 0) {
    port = svr.bind_to_any_port("127.0.0.1");
  } else if (!svr.bind_to_port("127.0.0.1", want)) {
    port = -1;
  }
  if (port < 0) {
    std::fprintf(stderr, "bench_bare_httplib: cannot bind 127.0.0.1:%d\n", want);
    return 1;
  }
  g_server = &svr;
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::printf("port %d\n", port);
  std::fflush(stdout);
  return svr.listen_after_bind() ? 0 : 1;
}
